import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("exp with w = 0 and the all-ones vector in range(A)")
struct OnesInRangeTests {
    /// A planted exp problem with w = 0; with `interceptColumn` the last column of A is all
    /// ones, so 1 is in range(A) and L(x + t e_d) = e^{2t} L(x): no unique minimiser.
    private func problem(interceptColumn: Bool, noise: Double) throws -> Problem {
        try planted(interceptColumn: interceptColumn, noise: noise).0
    }

    /// The problem and x_true (extended by 0 for the intercept column).
    private func planted(interceptColumn: Bool, noise: Double) throws -> (Problem, [Double]) {
        var s = PlantedProblem.Settings(rows: 400, columns: 6, density: 0.5)
        s.function = .exp; s.weight = 0; s.noise = noise; s.seed = 8
        let planted = try PlantedProblem.generate(s)
        var a = planted.matrix
        if interceptColumn {
            var builder = CoordinateBuilder(rowCount: a.rowCount, columnCount: a.columnCount + 1)
            for i in 0..<a.rowCount {
                for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { builder.append(row: i, column: Int(a.columnIndices[e]), value: a.values[e]) }
                builder.append(row: i, column: a.columnCount, value: 1)
            }
            a = builder.build()
        }
        let x = planted.xTrue + (interceptColumn ? [0] : [])
        return (try Problem(matrix: a, target: planted.target, weight: 0, function: .exp), x)
    }

    @Test func warnsWhenOnesAreInRange() throws {
        // Noiseless: b = softmax(A x_true) is fitted exactly along a whole line x_true + t e_d.
        // A run that returns an x (here stopped by the iteration limit near x_true, before u
        // can collapse, which would make it `degenerate`) must say that x is one point of a
        // line of minimisers.
        let (p, xTrue) = try planted(interceptColumn: true, noise: 0)
        let x0 = xTrue.enumerated().map { $1 * (1 + 1e-3) + ($0 == xTrue.count - 1 ? 0.01 : 0) }
        var options = SolverOptions(); options.maxIterations = 1
        let r = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(r.termination == .iterationLimit, "\(r.termination): \(r.message)")
        #expect(r.warnings.contains { $0.contains("all-ones vector (nearly) in range(A)") }, "\(r.warnings)")
        #expect(try #require(OnesInRange.residual(p.matrix)) < 1e-10)
    }

    @Test func degenerateWhenOnesAreInRangeAndTheFitIsNot() throws {
        // Noisy b: no exact fit, so L only tends to 0 as u collapses: status degenerate.
        let p = try problem(interceptColumn: true, noise: 0.1)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: p.columnCount))
        #expect(r.termination == .degenerate, "\(r.termination): \(r.message)")
    }

    @Test func silentWhenOnesAreNotInRange() throws {
        let p = try problem(interceptColumn: false, noise: 0.1)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: p.columnCount))
        #expect(!r.warnings.contains { $0.contains("all-ones vector") })
        // 400 rows, 6 random sparse columns: 1 is far from range(A).
        #expect(try #require(OnesInRange.residual(p.matrix)) > 0.1)
    }

    @Test func theSolverAndTheDiagnosticsDecideTheSameWay() throws {
        // One computation and one cut-off for both: the solver's warning and diagnose's
        // degenerate case agree, in range or not.
        for intercept in [true, false] {
            let (p, x) = try planted(interceptColumn: intercept, noise: 0)
            let residual = try #require(OnesInRange.residual(p.matrix))
            let g = try TheoryDiagnostics.compute(problem: p, at: x)
            #expect(g.onesResidual == residual)
            let flagged = g.degenerateCases.contains { $0.code == "exp_unweighted_ones_in_range" }
            #expect(flagged == (residual < OnesInRange.cutoff), "intercept \(intercept): residual \(residual)")
            #expect(flagged == intercept)
        }
    }
}
