// Streaming kernels for leverage-score sketching (docs/math.md, "SUBSAMPLE"; docs/solver.md, "Hessian strategies").
//
//   sparse sign embedding   S diag(r) A   (m x d dense, one pass, each row of A added with
//                                          a sign to `s` rows of the sketch)
//   projected row norms     ||e_i^T diag(r) A M||^2 for a dense d x k M   (one pass)
//
// Randomness comes from `SketchHash`, a pure function of (seed, global row index, salt), so
// the sketch does not depend on the thread count or on how rows are split: a row-partitioned
// (MPI) run hashes its global row numbers and sums the partial sketches (the combine step).

/// Stateless hashing that gives each row its own reproducible random numbers.
public enum SketchHash {
    /// A 64-bit hash of `(seed, row, salt)` (SplitMix64 finaliser applied twice).
    @inlinable
    public static func bits(seed: UInt64, row: Int, salt: UInt64) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (UInt64(truncatingIfNeeded: row) &+ 1)
        z ^= salt &* 0xD6E8_FEB8_6659_FD93
        for _ in 0..<2 {
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
        }
        return z
    }

    /// A uniform number in [0, 1) with 53 random bits, from `bits(seed:row:salt:)`.
    @inlinable
    public static func uniform(seed: UInt64, row: Int, salt: UInt64) -> Double {
        Double(bits(seed: seed, row: row, salt: salt) >> 11) * 0x1.0p-53
    }
}

extension CSRMatrix {
    /// The sketch `S diag(rowScales) A` for a sparse sign embedding S with `m = blocks *
    /// blockRows` rows: row i of A lands, with a random sign and weight `1/sqrt(blocks)`, in
    /// one random row of each of the `blocks` blocks of `blockRows` rows (OSNAP with block
    /// structure: `blocks` nonzeros per column of S, never colliding).
    ///
    /// One streaming pass; work `blocks * nnz(A)`. Rows with `rowScales[i] == 0` are skipped.
    /// Chunks (up to 64, by work, and no more than keep the adding-in of their partial
    /// sketches below the embedding's own work) accumulate into their own dense partial sketch;
    /// at most `maxPartialBytes` of partials (default 64 MiB: at d = 1000 the sketch is 32 MB,
    /// so 2) and at most one per thread are held at a time, added in chunk order
    /// (`ChunkPartials.streamedFold`): the same bits for any thread count.
    ///
    /// - Returns: the m x d sketch, **column-major** (entry (r, j) at `j * m + r`), as LAPACK
    ///   wants it.
    /// - Precondition: `rowScales.count == rowCount`, `blocks >= 1`, `blockRows >= 1`.
    public func sparseSignEmbedding(rowScales: [Double], blocks: Int, blockRows: Int, seed: UInt64,
                                    maxPartialBytes: Int = 1 << 26) -> [Double] {
        precondition(rowScales.count == rowCount && blocks >= 1 && blockRows >= 1 && blockRows <= Int(UInt32.max), "sparseSignEmbedding: bad arguments")
        let d = columnCount
        let m = blocks * blockRows
        let sketchSize = m * d
        let byWork = max(1, (nonzeroCount * blocks + rowCount) / (1 << 16))
        // Each chunk's partial is as large as the sketch, and adding it in costs m d: no more
        // chunks than keep that below the embedding's own work (at d = 1000 and 50 nonzeros
        // per row, 25), and at most 64 (so up to 64 threads are used). Partials are held for at
        // most `maxPartialBytes` (and the thread count) at a time (`streamedFold`).
        let byFold = max(1, (nonzeroCount * blocks) / max(1, sketchSize))
        let chunks = min(64, byWork, byFold)
        let slots = max(1, min(Parallelism.threadCount, maxPartialBytes / max(1, sketchSize * 8)))
        let partition = RowPartition(matrix: self, maxChunks: chunks, minimumWork: 1)
        let weight = 1 / Double(blocks).squareRoot()
        let firstRow = distribution.rowOffset  // hashes use global row numbers
        var result = [Double](repeating: 0, count: sketchSize)
        result.withUnsafeMutableBufferPointer { res in
            let out = SharedBuffer(res)
            rowScales.withUnsafeBufferPointer { sp in
                let scales = SharedReadBuffer(sp)
                rowOffsets.withUnsafeBufferPointer { ro in
                    columnIndices.withUnsafeBufferPointer { ci in
                        values.withUnsafeBufferPointer { va in
                            let a = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                            ChunkPartials.streamedFold(chunks: partition.count, width: sketchSize, slots: slots, foldCount: m, { c, block in
                                // Row-major partial (r * d + j): a row of A is written contiguously.
                                for i in partition.rows(c) {
                                    let scale = scales.buffer[i]
                                    if scale == 0 { continue }
                                    let start = a.rowOffsets[i], end = a.rowOffsets[i + 1]
                                    if start == end { continue }
                                    // One hash per row; each block's bucket and sign from a Weyl step of it
                                    // (multiply-shift range reduction on the high bits, sign from bit 31).
                                    var h = SketchHash.bits(seed: seed, row: firstRow + i, salt: 0)
                                    for t in 0..<blocks {
                                        h = (h &+ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
                                        h ^= h >> 29
                                        let r = t * blockRows + Int(((h >> 32) &* UInt64(blockRows)) >> 32)
                                        let sign: Double = (h >> 31) & 1 == 0 ? weight * scale : -weight * scale
                                        let target = block + r * d
                                        for e in start..<end { target[Int(a.columnIndices[e])] += sign * a.values[e] }
                                    }
                                }
                            }, fold: { rows, block in
                                // Sum in chunk order, transposed to column-major.
                                for r in rows {
                                    for j in 0..<d { out.buffer[j * m + r] += block[r * d + j] }
                                }
                            })
                        }
                    }
                }
            }
        }
        combineOverRanks(&result)
        return result
    }

    /// `out[i] = rowScales[i]^2 * ||e_i^T A M||_2^2` for a dense d x k matrix M stored
    /// row-major (`M[j, l]` at `j * k + l`): one streaming pass, `k * nnz(A)` multiply-adds,
    /// eight columns at a time in SIMD registers (k a multiple of 8 is fastest).
    /// Row-local, so no combine step: each chunk writes its own rows.
    ///
    /// - Precondition: `rowScales.count == rowCount`, `projection.count == columnCount * k`.
    public func projectedRowNormsSquared(rowScales: [Double], projection: [Double], columns k: Int) -> [Double] {
        precondition(rowScales.count == rowCount && k >= 1 && projection.count == columnCount * k, "projectedRowNormsSquared: bad arguments")
        var out = [Double](repeating: 0, count: rowCount)
        let blocks = k / 8, tail = k % 8
        out.withUnsafeMutableBufferPointer { ob in
            rowScales.withUnsafeBufferPointer { sp in
                projection.withUnsafeBufferPointer { mp in
                    let o = SharedBuffer(ob), scales = SharedReadBuffer(sp), proj = SharedReadBuffer(mp)
                    withRowChunks(partition) { rows, a in
                        let base = UnsafeRawPointer(proj.buffer.baseAddress!)
                        let stride = k * MemoryLayout<Double>.stride
                        for i in rows {
                            let scale = scales.buffer[i]
                            if scale == 0 { o.buffer[i] = 0; continue }
                            let start = a.rowOffsets[i], end = a.rowOffsets[i + 1]
                            var total = 0.0
                            for blk in 0..<blocks {
                                var acc = SIMD8<Double>()
                                let offset = blk * 8 * MemoryLayout<Double>.stride
                                for e in start..<end {
                                    let row = base + Int(a.columnIndices[e]) * stride + offset
                                    acc += a.values[e] * row.loadUnaligned(as: SIMD8<Double>.self)
                                }
                                total += (acc * acc).sum()
                            }
                            if tail > 0 {
                                for l in (blocks * 8)..<k {
                                    var acc = 0.0
                                    for e in start..<end { acc += a.values[e] * proj.buffer[Int(a.columnIndices[e]) * k + l] }
                                    total += acc * acc
                                }
                            }
                            o.buffer[i] = scale * scale * total
                        }
                    }
                }
            }
        }
        return out
    }
}

extension CSRMatrix {
    /// `out[i] = ||a_i||_2^2`, the squared Euclidean norms of the rows: one streaming pass
    /// over the values (no column indices, no vector gathered). Row-local, so the result does
    /// not depend on the thread count.
    public func rowNormsSquared() -> [Double] {
        var out = [Double](repeating: 0, count: rowCount)
        out.withUnsafeMutableBufferPointer { ob in
            let o = SharedBuffer(ob)
            withRowChunks(partition) { rows, a in
                for i in rows {
                    var total = 0.0
                    for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { total += a.values[e] * a.values[e] }
                    o.buffer[i] = total
                }
            }
        }
        return out
    }
}

extension CSRMatrix {
    /// The rows `rows` (in that order) as a matrix of their own, with the same columns: a
    /// copy of those rows only (for a row sample solved on its own).
    public func selectingRows(_ rows: [Int]) -> CSRMatrix {
        var offsets = [Int](repeating: 0, count: rows.count + 1)
        for (k, i) in rows.enumerated() { offsets[k + 1] = offsets[k] + nonzeroCount(inRow: i) }
        var indices = [Int32](), vals = [Double]()
        indices.reserveCapacity(offsets[rows.count]); vals.reserveCapacity(offsets[rows.count])
        for i in rows {
            indices.append(contentsOf: columnIndices[rowOffsets[i]..<rowOffsets[i + 1]])
            vals.append(contentsOf: values[rowOffsets[i]..<rowOffsets[i + 1]])
        }
        let sample = CSRMatrix(uncheckedRowCount: rows.count, columnCount: columnCount, rowOffsets: offsets, columnIndices: indices, values: vals)
        guard distribution.isDistributed else { return sample }
        // One rank's block of a distributed matrix: the selected rows of every rank, in rank
        // order, form the distributed sample (collective).
        let counts = communicator.allGather([rows.count])
        return sample.distributed(over: communicator, rowOffset: counts[..<communicator.rank].reduce(0) { $0 + $1[0] })
    }

    /// A row sample with probabilities proportional to the squared row norms: row i is kept
    /// with `p_i = min(1, m ||a_i||^2 / ||A||_F^2)` by the draw `SketchHash.uniform(seed, i)
    /// < p_i`, and weighted `1 / p_i` (so that `sum_kept a_i a_i^T / p_i` estimates `A^T A`
    /// without bias). For one rank's block of a distributed matrix (collective): the norms'
    /// sum is over all ranks, the draws hash global row numbers (so the sample does not depend
    /// on the number of ranks), and the rows returned are this block's. Two passes over the values (the norms' sum, then the draws), no
    /// n-vector stored; the sum is combined in chunk order and the draws are row-local, so
    /// every thread count gives the same sample. Returns nil when `||A||_F^2` is 0 or not finite.
    /// Also returns `max_i ||a_i||_2^2` (over all ranks), found by the first pass: with it,
    /// `|a_i x| <= ||a_i||_2 ||x||_2` bounds `max |A x|` without a pass.
    public func rowNormSample(targetRows m: Double, seed: UInt64) -> (rows: [Int], weights: [Double], largestSquaredRowNorm: Double)? {
        @Sendable func norm(_ a: CSRPointers, _ i: Int) -> Double {
            var total = 0.0
            for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { total += a.values[e] * a.values[e] }
            return total
        }
        let local = mapRowChunks(partition) { rows, a in
            var s = 0.0, top = 0.0
            for i in rows {
                let r = norm(a, i)
                s += r
                top = Swift.max(top, r)
            }
            return (s, top)
        }
        let total = communicator.sum(local.reduce(0) { $0 + $1.0 })
        guard total > 0, total.isFinite else { return nil }
        let largest = communicator.maximum(local.reduce(0) { Swift.max($0, $1.1) })
        let scale = m / total
        let firstRow = distribution.rowOffset  // draws hash global row numbers
        let kept: [[(Int, Double)]] = mapRowChunks(partition) { rows, a in
            var out: [(Int, Double)] = []
            for i in rows {
                let p = min(1, scale * norm(a, i))
                if p > 0, p >= 1 || SketchHash.uniform(seed: seed, row: firstRow + i, salt: 0x57A7) < p { out.append((i, 1 / p)) }
            }
            return out
        }
        let all = kept.flatMap { $0 }
        return (all.map(\.0), all.map(\.1), largest)
    }

    /// `max_i |(A x)_i|`, one pass, no vector stored; NaN counts as infinite.
    public func maxAbsProduct(_ x: [Double]) -> Double {
        precondition(x.count == columnCount, "maxAbsProduct: x has \(x.count) entries, A has \(columnCount) columns")
        return x.withUnsafeBufferPointer { xb in
            let xs = SharedReadBuffer(xb)
            let local = mapRowChunks(partition) { rows, a in
                var top = 0.0
                for i in rows {
                    let z = Swift.abs(a.dot(row: i, xs.buffer))
                    if !(z <= top) { top = z.isNaN ? .infinity : z }
                }
                return top
            }.reduce(0, Swift.max)
            return communicator.maximum(local)
        }
    }
}

