#if canImport(Glibc)
import Glibc
#endif
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// `--hessian pcg` (issue 14, item 2): Newton-CG on the exact Hessian, preconditioned by the
/// sampled Hessian's factor.
@Suite("Preconditioned Newton-CG (pcg)", .serialized)
struct PCGTests {
    static func planted(_ kind: FunctionKind, columnScale: Double, seed: UInt64) throws -> Problem {
        // 20000 x 20: the sample keeps well under half the rows, so the preconditioner is a
        // real approximation, not the exact Hessian. Noise makes the fit term non-zero at the
        // solution, so delta differs from the Gauss-Newton weights.
        var s = PlantedProblem.Settings(rows: 20000, columns: 20, density: 0.25)
        s.function = kind; s.weight = 0.1; s.noise = 0.1; s.seed = seed
        s.columnScaleRange = columnScale
        return try PlantedProblem.generate(s).problem()
    }

    static func solve(_ p: Problem, _ hessian: HessianStrategy, tolerance: Double = 1e-12,
                      preconditioner: PCGPreconditioner = .rowNorm) throws -> SolverResult {
        var o = SolverOptions()
        o.hessian = hessian; o.tolerance = tolerance; o.measurePass = false
        o.pcgPreconditioner = preconditioner
        return try NewtonSolver(options: o).solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0)
    }

    /// Same x as exact Newton. Both stop at relative gradient <= 1e-12; ||x - x*|| is about
    /// ||H^{-1}|| ||g||, so the two differ by about cond(H) 1e-12 relative: cond(H) is ~1e2
    /// here and ~1e5 with columns scaled over 1e3 (cond(A)^2 grows by up to R^2 in the extreme
    /// columns, less in practice), which leaves 1e-8 with a margin; an unconverged or wrong
    /// step (a sign error in the rank-2 terms) misses it by orders of magnitude.
    @Test(arguments: [(FunctionKind.exp, 1.0), (.cosh, 1.0), (.sinh, 1.0), (.exp, 1000.0)], PCGPreconditioner.allCases)
    func reachesTheExactNewtonSolution(_ problem: (kind: FunctionKind, columnScale: Double), preconditioner: PCGPreconditioner) throws {
        let p = try Self.planted(problem.kind, columnScale: problem.columnScale, seed: 7)
        let exact = try Self.solve(p, .exact)
        let pcg = try Self.solve(p, .pcg, preconditioner: preconditioner)
        #expect(exact.termination == .converged && pcg.termination == .converged, "\(exact.message) / \(pcg.message)")
        // Relative to max(1, ||x*||): the weighted sinh problem's minimiser is x = 0 (u = 0 gives
        // L = 0), where a relative distance would compare round-off to round-off.
        let distance = zip(pcg.x, exact.x).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let scale = max(1, exact.x.map { $0 * $0 }.reduce(0, +).squareRoot())
        #expect(distance <= 1e-8 * scale, "\(distance / scale)")
    }

    /// A handful of Newton iterations: at most three more than exact Newton on the same
    /// problem with the leverage sample, five with the row-norm sample, and at most 12 (exact
    /// takes 3 to 8 here: cosh and sinh start where H is indefinite; the forcing term trades a
    /// few Newton iterations for cheap inexact steps, and while it is loose the one or two CG
    /// iterates are only as Newton-like as the preconditioner: the row-norm sample keeps
    /// 40 d ln d = 2400 of the 20000 rows and measured exact + 4 on sinh, exact + 3 on the
    /// column-scaled exp, against exact + 3 and + 2 with the leverage sample's ~40%);
    /// every step a pcg step with its CG count, age and stop reason, few CG iterations per
    /// step, and the factor re-used at least once (age > 0).
    @Test(arguments: [(FunctionKind.exp, 1.0), (.cosh, 1.0), (.sinh, 1.0), (.exp, 1000.0)], PCGPreconditioner.allCases)
    func convergesInAHandfulOfIterations(_ problem: (kind: FunctionKind, columnScale: Double), preconditioner: PCGPreconditioner) throws {
        let p = try Self.planted(problem.kind, columnScale: problem.columnScale, seed: 8)
        let exact = try Self.solve(p, .exact, tolerance: 1e-10)
        let r = try Self.solve(p, .pcg, tolerance: 1e-10, preconditioner: preconditioner)
        #expect(r.termination == .converged, "\(r.message)")
        let rows = r.trace.dropFirst()
        let slack = preconditioner == .leverage ? 3 : 5
        #expect(rows.count <= min(12, exact.trace.count - 1 + slack), "\(rows.count) iterations, exact \(exact.trace.count - 1)")
        for row in rows {
            #expect(row.model == .pcg)
            #expect((row.cgIterations ?? 0) >= 1 && (row.cgIterations ?? 99) <= 20, "\(String(describing: row.cgIterations))")
            #expect(row.preconditionerAge != nil && row.cgStop != nil)
        }
        #expect(rows.contains { ($0.preconditionerAge ?? 0) > 0 })
    }

    /// The existing strategies are untouched: pcg does not appear in their traces.
    @Test func otherStrategiesRecordNoCG() throws {
        let p = try Self.planted(.exp, columnScale: 1, seed: 9)
        let r = try Self.solve(p, .exact, tolerance: 1e-10)
        #expect(r.trace.allSatisfy { $0.cgIterations == nil && $0.preconditionerAge == nil && $0.cgStop == nil })
    }

    /// Where H is indefinite (cosh from its start here; exact falls back to Gauss-Newton on
    /// the same problem), CG meets negative curvature and the step is CG on the Gauss-Newton
    /// matrix, named `gauss_newton` in the trace, and the run still converges.
    @Test func negativeCurvatureIsNamedAndHandled() throws {
        let p = try Self.planted(.cosh, columnScale: 1, seed: 7)
        let r = try Self.solve(p, .pcg, tolerance: 1e-10)
        #expect(r.termination == .converged, "\(r.message)")
        #expect(r.trace.contains { $0.cgStop == .gaussNewton }, "\(r.trace.map { $0.cgStop?.rawValue ?? "-" })")
    }

    /// The same bits on 1 and 2 threads (every reduction, the products' included, is summed in
    /// chunk order): x, the trace's losses and the CG counts. 60000 rows make several chunks.
    @Test(arguments: PCGPreconditioner.allCases)
    func sameBitsOnOneAndTwoThreads(preconditioner: PCGPreconditioner) throws {
        var s = PlantedProblem.Settings(rows: 60000, columns: 20, density: 0.25)
        s.function = .exp; s.weight = 0.1; s.noise = 0.1; s.seed = 10
        let p = try PlantedProblem.generate(s).problem()
        #expect(p.matrix.transposePartition.count > 2)
        let (one, usedOne) = try Parallelism.withThreadCount(1) { try Self.solve(p, .pcg, tolerance: 1e-10, preconditioner: preconditioner) }
        let (two, usedTwo) = try Parallelism.withThreadCount(2) { try Self.solve(p, .pcg, tolerance: 1e-10, preconditioner: preconditioner) }
        #expect(usedOne.mostThreads == 1 && usedTwo.mostThreads == 2, "the runs did not use 1 and then 2 threads")
        #expect(one.x == two.x)
        #expect(one.trace.map(\.loss) == two.trace.map(\.loss))
        #expect(one.trace.map(\.cgIterations) == two.trace.map(\.cgIterations))
    }

    /// The row-norm sample: the same rows and weights on 1 and 2 threads (each row's draw is a
    /// hash of the seed and its global index; the normalising sum runs over a fixed split, in
    /// chunk order), about m rows kept, and unbiased: sum over kept rows of (D_i / p_i) r_i
    /// estimates sum_i D_i r_i (relative standard deviation below 1/sqrt(m) here, 4 of them
    /// allowed). 200000 rows make 12 chunks.
    @Test func rowNormSampleIsIndependentOfTheThreadCount() throws {
        let n = 200_000
        let d = (0..<n).map { 0.5 + SketchHash.uniform(seed: 3, row: $0, salt: 1) }
        let r = (0..<n).map { 1 + 9 * SketchHash.uniform(seed: 3, row: $0, salt: 2) }
        let m = RowNormSampledWeights.targetRows(rows: n, columns: 200, factor: 10)
        #expect(m == 2000 * Glibc.log(200.0))
        #expect(RowNormSampledWeights.targetRows(rows: 500, columns: 200, factor: 10) == 500)
        let (one, usedOne) = Parallelism.withThreadCount(1) { RowNormSampledWeights.sample(diagonal: d, rowNorms: r, targetRows: m, seed: 1, salt: 4) }
        let (two, usedTwo) = Parallelism.withThreadCount(2) { RowNormSampledWeights.sample(diagonal: d, rowNorms: r, targetRows: m, seed: 1, salt: 4) }
        #expect(usedOne.mostThreads == 1 && usedTwo.mostThreads == 2, "the samples did not use 1 and then 2 threads")
        #expect(one.rows == two.rows && one.weights == two.weights && one.total == two.total)
        #expect(abs(Double(one.rows.count) - m) <= 4 * m.squareRoot(), "\(one.rows.count) rows for m = \(m)")
        let estimate = one.rows.map { one.weights[$0] * r[$0] }.reduce(0, +)
        #expect(abs(estimate / one.total - 1) <= 4 / m.squareRoot(), "\(estimate / one.total)")
        // Another iteration's salt draws another sample.
        let other = RowNormSampledWeights.sample(diagonal: d, rowNorms: r, targetRows: m, seed: 1, salt: 5)
        #expect(other.rows != one.rows)
    }

    /// `||a_i||^2` by the one-pass kernel equals the sum of squares row by row.
    @Test func rowNormsSquared() throws {
        let p = try Self.planted(.exp, columnScale: 1000, seed: 11)
        let a = p.matrix, norms = a.rowNormsSquared()
        for i in stride(from: 0, to: a.rowCount, by: 997) {
            var s = 0.0
            for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { s += a.values[e] * a.values[e] }
            #expect(norms[i] == s)
        }
    }
}
