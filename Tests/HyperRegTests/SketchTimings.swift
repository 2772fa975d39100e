import DenseLinearAlgebra
import Foundation
import HyperRegTestSupport
import Cholmod
import SparseCore
import Testing
@testable import HyperReg

/// Wall-clock timings of the sketch's kernels against one streaming pass, side by side in one
/// run; printed, not asserted. Off by default; run with
/// `SKETCH_TIMINGS=1 swift test -c release --filter SketchTimings` (SKETCH_ROWS, SKETCH_COLS,
/// SKETCH_DENSITY change the problem; default n = 1e6, d = 200, density 0.05).
@Suite("Sketch timings", .enabled(if: ProcessInfo.processInfo.environment["SKETCH_TIMINGS"] != nil), .serialized)
struct SketchTimings {
    private func best(_ repeats: Int = 3, _ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        var result = Double.infinity
        for _ in 0..<repeats {
            let start = clock.now
            try body()
            let c = (clock.now - start).components
            result = min(result, Double(c.seconds) + Double(c.attoseconds) * 1e-18)
        }
        return result
    }

    @Test func kernelsInPasses() throws {
        let env = ProcessInfo.processInfo.environment
        let n = Int(env["SKETCH_ROWS"] ?? "") ?? 1_000_000
        let d = Int(env["SKETCH_COLS"] ?? "") ?? 200
        let density = Double(env["SKETCH_DENSITY"] ?? "") ?? 0.05
        var s = PlantedProblem.Settings(rows: n, columns: d, density: density)
        s.function = .exp; s.weight = 1; s.seed = 1
        let p = try PlantedProblem.generate(s).problem()
        let a = p.matrix
        let obj = Objective(problem: p)
        let x = [Double](repeating: 0.01, count: d)
        let e = obj.evaluate(x)
        let dd = obj.sketchWeights(e)
        let scales = dd.map { $0.squareRoot() }
        let pass = best { _ = a.multiply(x) }
        let tpass = best { _ = a.transposeMultiply(e.v) }
        print(String(format: "sketch timings: n = %d, d = %d, nnz = %d; one A x pass %.4f s, one A^T y pass %.4f s", n, d, a.nonzeroCount, pass, tpass))
        func line(_ name: String, _ t: Double) { print(String(format: "  %-44@ %.4f s = %5.2f passes", name as NSString, t, t / pass)) }
        line("evaluate (A x, u, v, alpha, c)", best { _ = obj.evaluate(x) })
        line("gradient pieces (A^T [r, v, v o b])", best { _ = obj.gradientPieces(e) })
        for blocks in [1, 2, 4] {
            let m = 4 * d
            line("sparse embedding, \(blocks) per column, m = \(m)", best { _ = a.sparseSignEmbedding(rowScales: scales, blocks: blocks, blockRows: m / blocks, seed: 1) })
        }
        for k in [8, 16, 28, 32] {
            let proj = [Double](repeating: 0.1, count: d * k)
            line("projection pass, k = \(k)", best { _ = a.projectedRowNormsSquared(rowScales: scales, projection: proj, columns: k) })
        }
        let sampler = LeverageSampler(matrix: a, options: SketchOptions())
        var scores: LeverageScores? = nil
        let m = LeverageSampler(matrix: a, options: SketchOptions()).embeddingRows
        var dense = a.sparseSignEmbedding(rowScales: scales, blocks: 2, blockRows: m / 2, seed: 1)
        line("QR of the \(m) x \(d) sketch (dgeqrf)", try best(1) { var copy = dense; _ = try DenseLAPACK.qrUpperFactor(&copy, rows: m, columns: d) })
        dense = []
        line("whole estimate (defaults)", try best { scores = try sampler.estimate(diagonal: dd) })
        let beta = SketchOptions().oversampling(dimension: d)
        var pick: (rows: [Int], weights: [Double]) = ([], [])
        line("sample (beta = \(Int(beta)))", best { pick = sampler.sample(scores!, beta: beta, salt: 1) })
        line("rescale scores", best { _ = sampler.rescale(scores!, to: dd.map { $0 * 1.1 }) })
        let pattern = try NormalMatrixPattern(matrix: a)
        line("full assembly A^T D A", best { _ = pattern.assemble(a, weights: dd) })
        line("sampled assembly, \(pick.rows.count) rows", best { _ = pattern.assemble(a, weights: pick.weights, rows: pick.rows) })
        line("sketch weights (vector pass)", best { _ = obj.sketchWeights(e) })
    }
}
