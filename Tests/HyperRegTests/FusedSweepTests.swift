// Exact Newton's gradient pass and Hessian assembly in one sweep over A (issue 14, item 3;
// docs/solver.md, "Fused gradient and assembly"): the same bits as the two passes apart, so
// whether a run fuses (a prediction of the quadratic model) cannot change its result.

import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("Gradient and assembly in one sweep")
struct FusedSweepTests {
    /// A planted problem (w = 0.1, noise 0.05). 60 000 rows give several chunks of the
    /// transpose partition; d = 12 at density 0.3 gives a dense A^T A pattern, d = 400 with
    /// about two nonzeros per row a sparse one.
    static func problem(rows: Int = 60_000, columns: Int, density: Double, function: FunctionKind, seed: UInt64 = 23) throws -> Problem {
        var s = PlantedProblem.Settings(rows: rows, columns: columns, density: density)
        s.function = function; s.weight = 0.1; s.noise = 0.05; s.seed = seed
        return try PlantedProblem.generate(s).problem()
    }

    /// `gradientPiecesAndHessian` equals `gradientPieces` and `assemble(hessianWeights)` bit for
    /// bit, on 1 and 2 threads, for a dense and a sparse pattern.
    @Test(arguments: [(12, 0.3), (400, 0.005)], [1, 2])
    func fusedSweepHasTheBitsOfTheTwoPasses(shape: (columns: Int, density: Double), threads: Int) throws {
        let p = try Self.problem(columns: shape.columns, density: shape.density, function: .cosh)
        let pattern = try NormalMatrixPattern(matrix: p.matrix)
        #expect(pattern.isDense == (shape.columns == 12), "fixture: pattern density")
        #expect(p.matrix.transposePartition.count > 2, "fixture: several chunks")
        let objective = Objective(problem: p)
        var rng = SeededGenerator(seed: 5)
        let x = (0..<p.columnCount).map { _ in 0.3 * rng.gaussian() }
        let e = objective.evaluate(x)
        let (fused, _) = Parallelism.withThreadCount(threads) { objective.gradientPiecesAndHessian(e, pattern: pattern) }
        let pieces = objective.gradientPieces(e)
        let delta = objective.hessianWeights(e)
        let values = pattern.assemble(p.matrix, weights: delta)
        #expect(fused.values.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(fused.pieces.gradient.map(\.bitPattern) == pieces.gradient.map(\.bitPattern))
        #expect(fused.pieces.p.map(\.bitPattern) == pieces.p.map(\.bitPattern))
        #expect(fused.pieces.q.map(\.bitPattern) == pieces.q.map(\.bitPattern))
        #expect(fused.nonFiniteWeights == 0)
    }

    /// Rows whose delta overflows are counted (the Newton matrix then ends the run with
    /// `non_finite`, as it does for a delta vector with such entries).
    @Test func nonFiniteWeightsAreCounted() throws {
        let p = try Self.problem(columns: 12, density: 0.3, function: .exp)
        let pattern = try NormalMatrixPattern(matrix: p.matrix)
        let objective = Objective(problem: p)
        var rng = SeededGenerator(seed: 6)
        let x = (0..<p.columnCount).map { _ in 400 * rng.gaussian() }
        let e = objective.evaluate(x)
        let expected = objective.hessianWeights(e).filter { !$0.isFinite }.count
        try #require(expected > 0, "fixture: some delta must overflow")
        #expect(objective.gradientPiecesAndHessian(e, pattern: pattern).nonFiniteWeights == expected)
    }

    /// Whole exact solves with and without the fused sweep: the same x, loss, trace and
    /// status, bit for bit (cosh starts where the exact Hessian is indefinite, so Gauss-Newton
    /// steps are taken between exact ones).
    @Test(arguments: FunctionKind.allCases)
    func solvesAreTheSameWithAndWithoutFusion(function: FunctionKind) throws {
        let p = try Self.problem(rows: 3000, columns: 20, density: 0.3, function: function, seed: 31)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        var o = SolverOptions(); o.hessian = .exact; o.tolerance = 1e-10; o.measurePass = false
        let fused = try NewtonSolver(options: o).solve(p, from: x0)
        o.fusesGradientAndAssembly = false
        let apart = try NewtonSolver(options: o).solve(p, from: x0)
        #expect(fused.termination == apart.termination && fused.iterations == apart.iterations)
        #expect(fused.x.map(\.bitPattern) == apart.x.map(\.bitPattern))
        #expect(fused.finalLoss.bitPattern == apart.finalLoss.bitPattern)
        #expect(fused.trace.map(\.gradientNorm.bitPattern) == apart.trace.map(\.gradientNorm.bitPattern))
        #expect(fused.trace.map(\.model) == apart.trace.map(\.model))
        #expect(fused.passes.transpose == apart.passes.transpose)
        #expect(fused.iterations >= 3, "fixture: a run long enough to fuse")
    }
}
