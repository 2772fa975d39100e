import HyperReg
import HyperRegTestSupport
import SparseCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `SolverResult.fitL1`, the fit measure of attention problems (issue 16).
@Suite("Fit measure")
struct FitMeasureTests {
    /// ||u(Ax)/alpha - b||_1 written here from x, not by the solver's objective.
    func fitL1(_ p: Problem, _ x: [Double]) -> Double {
        let u = p.matrix.multiply(x).map { p.function == .exp ? exp($0) : p.function == .cosh ? cosh($0) : sinh($0) }
        let alpha = u.reduce(0, +)
        return zip(u, p.target).map { Swift.abs($0 / alpha - $1) }.reduce(0, +)
    }

    @Test(arguments: [FunctionKind.exp, .cosh, .sinh])
    func fitL1IsTheL1DistanceOfTheNormalisedModelToB(function: FunctionKind) throws {
        var s = PlantedProblem.Settings(rows: 3000, columns: 20, density: 0.2)
        s.function = function; s.weight = 0.1; s.noise = 0.1; s.seed = 7
        let p = try PlantedProblem.generate(s).problem()
        let r = try NewtonSolver().solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0)
        #expect(r.isSolutionUsable, "\(r.termination): \(r.message)")
        let fit = try #require(r.fitL1)
        // 3000 terms |u_i/alpha - b_i| of size ~1/3000 each, computed by two codes whose u and
        // alpha differ by a few ulps: the sums agree to ~1e-15 relative; 1e-12 leaves room
        // and is far below the fit itself (noise 0.1 and w = 0.1 keep it above 1e-2).
        let mine = fitL1(p, r.x)
        #expect(Swift.abs(fit - mine) <= 1e-12 * mine, "fitL1 \(fit), recomputed \(mine)")
        #expect(mine > 1e-2)
    }

    @Test func anExactSoftmaxTargetHasAFitAtRoundoff() throws {
        // Noiseless exp with w = 0: b = softmax(A x_true) and the solve recovers it, so the fit
        // is round-off: 3000 terms of ~1e-16 each.
        var s = PlantedProblem.Settings(rows: 3000, columns: 20, density: 0.2)
        s.function = .exp; s.weight = 0; s.seed = 5
        let p = try PlantedProblem.generate(s).problem()
        let r = try NewtonSolver().solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0)
        #expect(r.termination == .converged || r.termination == .convergedAtRoundoff)
        let fit = try #require(r.fitL1)
        #expect(fit < 1e-12, "fit \(fit)")
    }
}

@Suite("Package version")
struct PackageVersionTests {
    @Test func versionIsSemantic() {
        let parts = HyperRegPackage.version.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { Int($0) != nil }, "\(HyperRegPackage.version)")
    }
}
