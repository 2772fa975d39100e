// Leverage-score row sampling of A^T D A (the paper's SUBSAMPLE, Lemma 6.4; docs/math.md,
// docs/math.md "Sketched Hessian").
//
//   1. sketch      S D^{1/2} A        sparse sign embedding, m = sketchFactor * d rows    (1 pass)
//   2. QR          S D^{1/2} A = Q R  LAPACK dgeqrf on the dense m x d sketch          (O(m d^2))
//   3. project     M = R^{-1} G       G: d x k Gaussian, k = O(log n)                  (O(d^2 k))
//   4. scores      tau_i = D_i ||e_i^T A M||^2 / k                                      (1 pass)
//   5. sample      keep row i with p_i = min(1, beta tau_i), weight D_i / p_i          (vector pass)
//
// beta = 3 ln(2 d / delta) / eps^2 is the matrix Chernoff constant (Tropp 2012, Thm 1.1)
// for (1 - eps) A^T D A <= A^T D~ A <= (1 + eps) A^T D A with probability >= 1 - delta when
// the tau_i are upper bounds of the true leverage scores; docs/math.md derives it.
//
// Re-use: while D changes by a bounded ratio, rescaled old scores remain valid upper bounds
// (docs/math.md), so steps 1-4 (two passes over A and the QR) are skipped.

#if canImport(Glibc)
import Glibc
#endif
import DenseLinearAlgebra
import Cholmod
import SparseCore

/// Settings of the leverage-score estimate and the row sample.
public struct SketchOptions: Sendable, Equatable {
    /// Accuracy eps of the sampled matrix: `(1 - eps) A^T D A <= A^T D~ A <= (1 + eps) A^T D A`
    /// with probability at least `1 - delta` (given upper-bound leverage scores). Default 0.5.
    public var epsilon: Double = 0.5
    /// Failure probability delta of one sample. Default 0.01.
    public var delta: Double = 0.01
    /// Rows of the sparse embedding per column of A: `m = sketchFactor * d` (rounded up to a
    /// multiple of `embeddingNonzeros`). Default 4.
    public var sketchFactor: Double = 4
    /// Nonzeros per column of the sparse embedding S (its blocks). Default 2 (measured: 4
    /// costs 3.2 passes against 2.3 with the same spectral quality, docs/solver.md).
    public var embeddingNonzeros: Int = 2
    /// Columns k of the Gaussian projection; nil means `2 ln n` rounded up to a multiple of 8,
    /// at least 8 and at most 16 (the pass costs k multiply-adds per nonzero: measured 3.1
    /// passes at k = 16 and 6.8 at k = 32, n = 1e6, d = 200; docs/solver.md). Default nil.
    public var gaussianColumns: Int? = nil
    /// Seed of every random choice (embedding, projection, sample). Default 1.
    public var seed: UInt64 = 1
    /// Re-use the leverage scores of an earlier D while the ratio spread
    /// `max_i(D'_i / D_i) * max_i(D_i / D'_i)` stays at most this; 1 disables re-use.
    /// Default 2.
    public var reuseRatio: Double = 2
    /// A safety factor multiplying beta, for leverage estimates that may fall short of the true
    /// scores (the sketch's constant-factor error). Default 1.5 (measured, docs/solver.md).
    public var safetyFactor: Double = 1.5

    /// The defaults.
    public init() {}

    /// Checks every field.
    /// - Throws: `SolverError.invalidOptions` naming the field (the words of `check()`).
    public func validate() throws(SolverError) {
        do { try check() } catch { throw .invalidOptions(error.description) }
    }

    /// Checks every field, with the field and the offending value in the error.
    public func check() throws(OptionsError) {
        guard epsilon > 0, epsilon < 1 else { throw .epsilon(epsilon) }
        guard delta > 0, delta < 1 else { throw .delta(delta) }
        guard sketchFactor.isFinite, sketchFactor >= 1 else { throw .sketchFactor(sketchFactor) }
        guard embeddingNonzeros >= 1 else { throw .embeddingNonzeros(embeddingNonzeros) }
        if let k = gaussianColumns, k < 1 { throw .gaussianColumns(k) }
        guard reuseRatio.isFinite, reuseRatio >= 1 else { throw .reuseRatio(reuseRatio) }
        guard safetyFactor.isFinite, safetyFactor >= 1 else { throw .safetyFactor(safetyFactor) }
    }

    /// The oversampling factor beta = safetyFactor * 3 ln(2 d / delta) / eps^2 for dimension d
    /// and failure probability `delta` (the paper's Algorithm 1 passes delta / T).
    public func oversampling(dimension d: Int, delta: Double? = nil) -> Double {
        let dl = delta ?? self.delta
        return safetyFactor * 3 * Glibc.log(2 * Double(max(1, d)) / dl) / (epsilon * epsilon)
    }

    /// Gaussian columns k for n rows.
    public func projectionColumns(rows n: Int) -> Int {
        gaussianColumns ?? min(16, max(8, (Int((2 * Glibc.log(Double(max(2, n)))).rounded(.up)) + 7) / 8 * 8))
    }
}

/// Leverage-score estimates of the rows of `D^{1/2} A`.
public struct LeverageScores: Sendable {
    /// tau_i (n), approximately `D_i a_i^T (A^T D A)^+ a_i`; their sum is about rank(D^{1/2} A).
    public var scores: [Double]
    /// The diagonal D they were computed for.
    public var diagonal: [Double]
    /// True when computed exactly (n small: no embedding, no projection).
    public var isExact: Bool
}

/// Computes leverage scores and row samples for one matrix A.
public struct LeverageSampler: Sendable {
    /// The matrix A.
    public let matrix: CSRMatrix
    /// Settings.
    public let options: SketchOptions

    /// A sampler for `matrix`.
    public init(matrix: CSRMatrix, options: SketchOptions) {
        self.matrix = matrix
        self.options = options
    }

    /// Rows m of the sparse embedding (a multiple of the embedding's nonzeros per column).
    public var embeddingRows: Int {
        let s = options.embeddingNonzeros
        let m = Int((options.sketchFactor * Double(matrix.columnCount)).rounded(.up))
        return max(s, (m + s - 1) / s * s)
    }

    /// Bytes of the dense m x d sketch (the memory the estimate needs beyond A and O(n)).
    public var sketchBytes: Int { embeddingRows * matrix.columnCount * 8 }

    /// Estimates the leverage scores of `D^{1/2} A` (D >= 0, n entries): two passes over A
    /// plus a dense QR of the m x d sketch. When `n <= m` the scores are exact (QR of
    /// `D^{1/2} A` itself, projection by `R^{-1}`).
    ///
    /// Directions that `D^{1/2} A` does not reach (rank deficiency) are regularised: a
    /// diagonal entry of R below `1e-12 * max |R_jj|` is raised to that floor.
    ///
    /// - Parameter salt: varies the random choices between calls (e.g. the iteration).
    /// - Throws: `SolverError.factorization` if LAPACK fails, `SolverError.nonFinite` if
    ///   the sketch overflows (D or A too large for Double).
    public func estimate(diagonal d: [Double], salt: UInt64 = 0) throws(SolverError) -> LeverageScores {
        let a = matrix
        let n = a.rowCount, cols = a.columnCount
        precondition(d.count == n, "estimate: D must have n entries")
        let scales = d.map { $0 > 0 ? $0.squareRoot() : 0 }
        let m = embeddingRows
        // In a distributed run: the global n decides, and the exact case places this rank's
        // rows at their global positions of the dense D^{1/2} A and sums over the ranks.
        let globalRows = a.globalRowCount, firstRow = a.distribution.rowOffset
        let exact = globalRows <= m
        let seed = options.seed &+ 0x5851_F42D_4C95_7F2D &* (salt &+ 1)
        var sketch: [Double]
        let rows: Int
        if exact {
            // The dense D^{1/2} A itself, column-major.
            rows = globalRows
            sketch = [Double](repeating: 0, count: globalRows * cols)
            for i in 0..<n where scales[i] != 0 {
                for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { sketch[Int(a.columnIndices[e]) * globalRows + firstRow + i] += scales[i] * a.values[e] }
            }
            a.combineOverRanks(&sketch)
        } else {
            rows = m
            sketch = a.sparseSignEmbedding(rowScales: scales, blocks: options.embeddingNonzeros,
                                           blockRows: m / options.embeddingNonzeros, seed: seed)
        }
        var r: [Double]
        do { r = try DenseLAPACK.qrUpperFactor(&sketch, rows: rows, columns: cols) } catch {
            throw .wrapping(error, during: "leverage scores")
        }
        var largest = 0.0
        for j in 0..<cols { largest = max(largest, Swift.abs(r[j * cols + j])) }
        guard largest.isFinite else {
            // An entry of D^{1/2} A too large for the QR (the caller locates it).
            throw .nonFinite(.arithmetic("the leverage-score sketch of D^{1/2} A is not finite"), "leverage scores: the QR of the sketch of D^{1/2} A overflows")
        }
        guard largest > 0 else {
            // D^{1/2} A = 0: every score is 0.
            return LeverageScores(scores: [Double](repeating: 0, count: n), diagonal: d, isExact: exact)
        }
        let floor = 1e-12 * largest
        for j in 0..<cols where Swift.abs(r[j * cols + j]) < floor { r[j * cols + j] = r[j * cols + j] < 0 ? -floor : floor }
        // M = R^{-1} G (exact: G = I), column-major d x k.
        let k = exact ? cols : options.projectionColumns(rows: globalRows)
        var mm = [Double](repeating: 0, count: cols * k)
        if exact {
            for j in 0..<cols { mm[j * cols + j] = 1 }
        } else {
            var rng = SeededGenerator(seed: seed ^ 0x2545_F491_4F6C_DD1D)
            for t in 0..<mm.count { mm[t] = rng.gaussian() }
        }
        do { try DenseLAPACK.solveUpperTriangular(r, dimension: cols, &mm, rightHandSides: k) } catch {
            throw .wrapping(error, during: "leverage scores")
        }
        // Row-major copy for the projection pass; 1/k folded into the scale.
        var rowMajor = [Double](repeating: 0, count: cols * k)
        for j in 0..<cols { for l in 0..<k { rowMajor[j * k + l] = mm[l * cols + j] } }
        // 1/k for the projection; and (m - d - 1)/m, the inverse of the mean inflation of
        // (A^T S^T S A)^{-1} over (A^T A)^{-1} for an m-row embedding (inverse Wishart mean:
        // measured median ratio estimate/exact 1.5 at m = 4d without it, ~1.1 with it).
        let bias = exact || rows <= cols + 1 ? 1.0 : Double(rows - cols - 1) / Double(rows)
        let scaleK = exact ? 1.0 : (bias / Double(k)).squareRoot()
        let tau = a.projectedRowNormsSquared(rowScales: scales.map { $0 * scaleK }, projection: rowMajor, columns: k)
        return LeverageScores(scores: tau, diagonal: d, isExact: exact)
    }

    /// Rescales scores computed for an earlier diagonal to a new diagonal `d`, when that is
    /// safe: with `rho_max = max_i d_i / old_i` and `rho_min = min_i d_i / old_i` over rows
    /// where either is positive, `tau_i * (d_i / old_i) / rho_min` bounds the new scores
    /// from above (docs/math.md). Returns nil when some row changes from 0 to positive or
    /// `rho_max / rho_min` exceeds `options.reuseRatio`.
    public func rescale(_ old: LeverageScores, to d: [Double]) -> LeverageScores? {
        guard options.reuseRatio > 1 else { return nil }
        let part = RowPartition(rowCount: d.count, maxChunks: 64, minimumRows: 1 << 14)
        // Ratio range over chunks (row-local), combined in chunk order.
        struct Range: Sendable { var lo = Double.infinity, hi = 0.0, forbidden = false }
        let ranges: [Range] = d.withUnsafeBufferPointer { dp in
            old.diagonal.withUnsafeBufferPointer { op in
                let dn = SharedReadBuffer(dp), od = SharedReadBuffer(op)
                return Parallelism.mapChunks(part.count) { c in
                    var r = Range()
                    for i in part.rows(c) {
                        let o = od.buffer[i], nw = dn.buffer[i]
                        // max/min drop a NaN ratio: a non-finite D must never re-use scores.
                        if !nw.isFinite { r.forbidden = true; continue }
                        if o > 0 {
                            let ratio = nw / o
                            r.hi = max(r.hi, ratio); r.lo = min(r.lo, ratio)
                        } else if nw > 0 {
                            r.forbidden = true
                        }
                    }
                    return r
                }
            }
        }
        var forbidden = ranges.contains(where: \.forbidden)
        var rhoMin = ranges.map(\.lo).min() ?? .infinity, rhoMax = ranges.map(\.hi).max() ?? 0
        let comm = matrix.communicator
        if comm.isDistributed {
            // The ratio range over every rank (collective; every rank decides alike).
            let all = comm.allGather([forbidden ? 1 : 0, rhoMin, rhoMax])
            forbidden = all.contains { $0[0] != 0 }
            rhoMin = all.map { $0[1] }.min()!
            rhoMax = all.map { $0[2] }.max()!
        }
        guard !forbidden else { return nil }
        guard rhoMin > 0, rhoMin.isFinite, rhoMax.isFinite, rhoMax / rhoMin <= options.reuseRatio else { return nil }
        let lowest = rhoMin
        var tau = old.scores
        tau.withUnsafeMutableBufferPointer { tp in
            d.withUnsafeBufferPointer { dp in
                old.diagonal.withUnsafeBufferPointer { op in
                    let t = SharedBuffer(tp), dn = SharedReadBuffer(dp), od = SharedReadBuffer(op)
                    Parallelism.forEachChunk(part.count) { c in
                        for i in part.rows(c) where od.buffer[i] > 0 { t.buffer[i] *= (dn.buffer[i] / od.buffer[i]) / lowest }
                    }
                }
            }
        }
        return LeverageScores(scores: tau, diagonal: d, isExact: false)
    }

    /// Draws the sample: row i kept with probability `p_i = min(1, beta * tau_i)` (independent
    /// draws from `SketchHash`, so any row split gives the same sample), weight `D_i / p_i`.
    ///
    /// - Returns: the kept rows (increasing) and a length-n weight array whose kept entries
    ///   are `D_i / p_i` (other entries are not used).
    public func sample(_ scores: LeverageScores, beta: Double, salt: UInt64) -> (rows: [Int], weights: [Double]) {
        let d = scores.diagonal
        var weights = d
        let seed = options.seed &+ 0x9E6C_63D0_676A_9A99 &* (salt &+ 1)
        let part = RowPartition(rowCount: d.count, maxChunks: 64, minimumRows: 1 << 14)
        let firstRow = matrix.distribution.rowOffset
        // Row-local draws (a hash of the global row index): chunks only change who draws, and
        // in a distributed run the sample does not depend on the number of ranks.
        let kept: [[Int]] = weights.withUnsafeMutableBufferPointer { wp in
            d.withUnsafeBufferPointer { dp in
                scores.scores.withUnsafeBufferPointer { sp in
                    let w = SharedBuffer(wp), dd = SharedReadBuffer(dp), tau = SharedReadBuffer(sp)
                    return Parallelism.mapChunks(part.count) { c in
                        var rows: [Int] = []
                        for i in part.rows(c) where dd.buffer[i] > 0 {
                            let p = min(1, beta * tau.buffer[i])
                            if p <= 0 { continue }
                            if p >= 1 || SketchHash.uniform(seed: seed, row: firstRow + i, salt: 0xA5A5) < p {
                                rows.append(i)
                                w.buffer[i] = dd.buffer[i] / p
                            }
                        }
                        return rows
                    }
                }
            }
        }
        return (kept.flatMap { $0 }, weights)
    }
}
