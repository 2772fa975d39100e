import Glibc
import SparseCore
import Testing
@testable import HyperReg

/// The cheaper start point (docs/solver.md "Start point") computes the same bits as the
/// plain one: checked against the original one-target-at-a-time loop.
@Suite("Start point cost: same bits as the plain computation")
struct StartPointCostTests {
    /// The inverse-fit as first written: one serial asinh map, one A^T y pass and one solve per
    /// grid scale, in order.
    static func plainInverseFit(_ p: Problem) throws -> [Double]? {
        let b = p.target
        let k0 = 0.5 / (b.reduce(0) { $0 + $1 * $1 } / Double(b.count)).squareRoot()
        let solver = try LeastSquares(matrix: p.matrix, during: "test")
        let objective = Objective(problem: p)
        var best: (loss: Double, x: [Double])? = nil
        for j in -4...4 {
            let k = k0 * Glibc.pow(2, Double(j))
            let x = try solver.solve(target: b.map { Glibc.asinh(k * $0) }, intercept: false)
            let e = objective.evaluate(x)
            let uNorm = e.u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard e.isFinite, uNorm.isFinite, uNorm > 0 else { continue }
            let misfit = (2 * e.fitLoss).squareRoot() / uNorm
            guard misfit.isFinite else { continue }
            if best == nil || misfit < best!.loss { best = (misfit, x) }
        }
        return best?.x
    }

    /// 60 000 rows: several asinh chunks and transpose chunks; 1 and 2 threads.
    @Test(arguments: [1, 2])
    func inverseFitBatchedEqualsPlainLoop(threads: Int) throws {
        var s = PlantedProblem.Settings(rows: 60_000, columns: 12, density: 0.3)
        s.function = .sinh; s.weight = 0.01; s.noise = 0.02; s.seed = 11
        let p = try PlantedProblem.generate(s).problem()
        let (batched, _) = try Parallelism.withThreadCount(threads) { try StartPoint.inverseFit(p) }
        let plain = try #require(try Self.plainInverseFit(p))
        let x = try #require(batched)
        #expect(x.map(\.bitPattern) == plain.map(\.bitPattern), "\(x) vs \(plain)")
    }

    /// `Objective.startMisfit` gives the bits of ||c|| / ||u|| from a full `evaluate`, for
    /// every function, on several chunks and 1 or 2 threads, and nil where the evaluation
    /// is not finite (x scaled up until sinh, cosh or exp of A x overflows).
    @Test(arguments: [FunctionKind.exp, .cosh, .sinh], [1, 2])
    func startMisfitEqualsTheFullEvaluation(function: FunctionKind, threads: Int) throws {
        var s = PlantedProblem.Settings(rows: 50_000, columns: 9, density: 0.4)
        s.function = function; s.weight = 0.1; s.noise = 0.05; s.seed = 4
        let planted = try PlantedProblem.generate(s)
        let p = try planted.problem()
        let objective = Objective(problem: p)
        var rng = SeededGenerator(seed: 9)
        for scale in [0.1, 1, 3, 1e4] {
            let x = (0..<9).map { _ in rng.gaussian() * scale }
            let (light, _) = Parallelism.withThreadCount(threads) { objective.startMisfit(x) }
            let e = objective.evaluate(x)
            let uNorm = e.u.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let misfit = (2 * e.fitLoss).squareRoot() / uNorm
            let full: Double? = e.isFinite && uNorm.isFinite && uNorm > 0 && misfit.isFinite ? misfit : nil
            #expect(light?.bitPattern == full?.bitPattern, "scale \(scale): \(String(describing: light)) vs \(String(describing: full))")
            if scale == 1e4 { #expect(light == nil, "A x of size ~1e4 overflows u") }
        }
    }

    /// The log-fit with log b mapped in parallel chunks equals the plain serial map and solve,
    /// bit for bit, at 60 000 rows (several chunks) on 1 and 2 threads.
    @Test(arguments: [1, 2])
    func logFitEqualsPlainSolve(threads: Int) throws {
        var s = PlantedProblem.Settings(rows: 60_000, columns: 12, density: 0.3)
        s.function = .exp; s.weight = 0.1; s.noise = 0.05; s.seed = 12
        let p = try PlantedProblem.generate(s).problem()
        let (fit, _) = try Parallelism.withThreadCount(threads) { try StartPoint.logFit(p) }
        let plain = try LeastSquares(matrix: p.matrix, during: "test").solve(target: p.target.map { Glibc.log($0) }, intercept: true)
        let x = try #require(fit)
        #expect(x.map(\.bitPattern) == plain.map(\.bitPattern))
    }
}
