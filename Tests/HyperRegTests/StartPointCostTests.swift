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
}
