// Row-norm sampling of A^T D A for the pcg preconditioner (issue 14, "The preconditioner
// idea"): row i is kept with probability
//
//   p_i = min(1, m q_i),   q_i = D_i ||a_i||^2 / sum_j D_j ||a_j||^2,   m = c d ln d (at most n)
//
// and weighted D_i / p_i, so the sampled matrix is unbiased. The row norms ||a_i||^2 are one
// pass over A's values, once per solve; each sample after that is a vector pass over D. No
// sketch, no QR, no projection: the leverage-score estimate costs ~8 passes at n = 1e6,
// d = 200, this ~0.5. Row norms bound the leverage scores only up to the conditioning of
// A^T D A (a column-scaled A is the bad case), which a preconditioner can afford: CG pays in
// iterations, not in accuracy (docs/solver.md, "pcg: preconditioned Newton-CG").

#if canImport(Glibc)
import Glibc
#endif
import SparseCore

/// The row sample behind the `pcg` preconditioner.
public enum PCGPreconditioner: String, CaseIterable, Sendable, Codable {
    /// Probabilities proportional to `D_i ||a_i||^2` (one pass for the row norms per solve).
    case rowNorm = "row-norm"
    /// Leverage-score estimates (sparse embedding, QR, projected row norms: the sketch's).
    case leverage
}

/// A row-norm sample of `A^T diag(D) A` (D from `weights`): row norms computed once, a fresh
/// sample drawn from `SketchHash` of (seed, iteration, global row index) at every assembly,
/// so the sample does not depend on the thread count or on how rows are split.
final class RowNormSampledWeights: HessianWeights {
    let context: SolveContext, system: HessianSystem
    /// Expected rows m (before the cap p_i <= 1 trims it).
    let targetRows: Double
    private let weights: (Objective, Evaluation) -> [Double]
    private var norms: [Double]? = nil
    /// Another sampler of the same A whose row norms this one uses (computed once per solve).
    private let source: RowNormSampledWeights?

    init(context: SolveContext, system: HessianSystem, sharing source: RowNormSampledWeights? = nil,
         weights: @escaping (Objective, Evaluation) -> [Double]) {
        self.context = context; self.system = system; self.weights = weights; self.source = source
        targetRows = Self.targetRows(rows: context.matrix.globalRowCount, columns: context.matrix.columnCount,
                                     factor: context.options.pcgSampleFactor)
    }

    /// `m = min(n, factor * d * ln d)` (ln d at least 1).
    static func targetRows(rows n: Int, columns d: Int, factor: Double) -> Double {
        min(Double(n), factor * Double(d) * max(1, Glibc.log(Double(max(d, 1)))))
    }

    /// `||a_i||^2`, computed on first use (one pass, counted with the leverage passes).
    func rowNorms() -> [Double] {
        if let source { return source.rowNorms() }
        if let norms { return norms }
        let r = context.matrix.rowNormsSquared()
        norms = r
        context.passes.leverage += 1
        return r
    }

    func diagonal(at state: IterateState) -> [Double] { weights(context.objective, state.evaluation) }

    func assemble(_ d: [Double], iteration: Int) throws(SolverError) -> AssembledMatrix {
        let t0 = context.clock.now
        let r = rowNorms()
        let pick = Self.sample(diagonal: d, rowNorms: r, targetRows: targetRows,
                               seed: context.options.sketch.seed, salt: UInt64(iteration),
                               communicator: context.matrix.communicator, firstRow: context.matrix.distribution.rowOffset)
        guard pick.total.isFinite else {
            throw .nonFinite(.arithmetic("the row-norm weights D_i ||a_i||^2 overflow"), "pcg preconditioner: D_i ||a_i||^2 overflows")
        }
        context.timings.sketch += seconds(context.clock.now - t0)
        let values = system.assemble(weights: pick.weights, rows: pick.rows)
        context.notes.rowsKept = context.matrix.communicator.sum(pick.rows.count)
        context.notes.leverageReused = false
        return AssembledMatrix(values: values)
    }

    /// The sample: row i (D_i > 0) kept with `p_i = min(1, m D_i r_i / sum_j D_j r_j)` by an
    /// independent draw `SketchHash.uniform(seed', i) < p_i`, weight `D_i / p_i`. The sum is
    /// taken over a fixed row split (`RowPartition(rowCount:)`, chunk order), so every thread
    /// count gives the same bits. Returns the kept rows (increasing), a length-n weight array
    /// (kept entries `D_i / p_i`) and the sum. In a distributed run (collective) the sum is
    /// over every rank and the draws hash global row numbers (`firstRow + i`).
    static func sample(diagonal d: [Double], rowNorms r: [Double], targetRows m: Double, seed: UInt64, salt: UInt64,
                       communicator: any Communicator = SingleProcess.shared, firstRow: Int = 0)
        -> (rows: [Int], weights: [Double], total: Double) {
        let n = d.count
        let part = RowPartition(rowCount: n, maxChunks: 64, minimumRows: 1 << 14)
        let partials: [Double] = d.withUnsafeBufferPointer { dp in
            r.withUnsafeBufferPointer { rp in
                let dd = SharedReadBuffer(dp), rr = SharedReadBuffer(rp)
                return Parallelism.mapChunks(part.count) { c in
                    var s = 0.0
                    for i in part.rows(c) where dd.buffer[i] > 0 { s += dd.buffer[i] * rr.buffer[i] }
                    return s
                }
            }
        }
        let total = communicator.sum(partials.reduce(0, +))
        var weights = d
        guard total > 0, total.isFinite else { return ([], weights, total) }
        let scale = m / total
        let drawSeed = seed &+ 0xC2B2_AE3D_27D4_EB4F &* (salt &+ 1)
        let kept: [[Int]] = weights.withUnsafeMutableBufferPointer { wp in
            d.withUnsafeBufferPointer { dp in
                r.withUnsafeBufferPointer { rp in
                    let w = SharedBuffer(wp), dd = SharedReadBuffer(dp), rr = SharedReadBuffer(rp)
                    return Parallelism.mapChunks(part.count) { c in
                        var rows: [Int] = []
                        for i in part.rows(c) where dd.buffer[i] > 0 {
                            let p = min(1, scale * dd.buffer[i] * rr.buffer[i])
                            if p <= 0 { continue }
                            if p >= 1 || SketchHash.uniform(seed: drawSeed, row: firstRow + i, salt: 0x5A5A) < p {
                                rows.append(i)
                                w.buffer[i] = dd.buffer[i] / p
                            }
                        }
                        return rows
                    }
                }
            }
        }
        return (kept.flatMap { $0 }, weights, total)
    }
}
