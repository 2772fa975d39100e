// Streaming kernels over a CSR matrix: A x, A^T y (one or several y at once), and the
// generic row pass the solver builds its fused objective pass on. Every reduction is
// formed per chunk and combined in chunk order (see Parallel.swift).

extension CSRMatrix {
    /// The row partition used by this matrix's kernels (depends only on the matrix).
    public var partition: RowPartition { RowPartition(matrix: self) }

    /// Partition for transpose products: coarser when `columnCount` is large, so that
    /// the per-chunk partial d-vectors stay under about 32 MB in all.
    public var transposePartition: RowPartition {
        let budget = (1 << 22) / max(1, columnCount)  // doubles per chunk allowed
        return RowPartition(matrix: self, maxChunks: max(1, min(64, budget)))
    }

    /// Calls `body(rows, pointers)` once per chunk of `partition`, in parallel, with raw
    /// read access to the CSR arrays. The building block of every row pass.
    @inlinable
    package func withRowChunks(_ partition: RowPartition, _ body: @Sendable (Range<Int>, CSRPointers) -> Void) {
        rowOffsets.withUnsafeBufferPointer { ro in
            columnIndices.withUnsafeBufferPointer { ci in
                values.withUnsafeBufferPointer { va in
                    let p = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                    Parallelism.forEachChunk(partition.count) { c in body(partition.rows(c), p) }
                }
            }
        }
    }

    /// Like `withRowChunks`, also passing the chunk index (for chunk-owned partial storage).
    @inlinable
    package func withRowChunksIndexed(_ partition: RowPartition, _ body: @Sendable (Int, Range<Int>, CSRPointers) -> Void) {
        rowOffsets.withUnsafeBufferPointer { ro in
            columnIndices.withUnsafeBufferPointer { ci in
                values.withUnsafeBufferPointer { va in
                    let p = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                    Parallelism.forEachChunk(partition.count) { c in body(c, partition.rows(c), p) }
                }
            }
        }
    }

    /// Like `withRowChunks`, returning each chunk's result in chunk order.
    @inlinable
    package func mapRowChunks<R: Sendable>(_ partition: RowPartition, _ body: @Sendable (Range<Int>, CSRPointers) -> R) -> [R] {
        rowOffsets.withUnsafeBufferPointer { ro in
            columnIndices.withUnsafeBufferPointer { ci in
                values.withUnsafeBufferPointer { va in
                    let p = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                    return Parallelism.mapChunks(partition.count) { c in body(partition.rows(c), p) }
                }
            }
        }
    }

    /// `z = A x`, one streaming pass.
    /// - Precondition: `x.count == columnCount`.
    public func multiply(_ x: [Double]) -> [Double] {
        var z = [Double](repeating: 0, count: rowCount)
        multiply(x, into: &z)
        return z
    }

    /// `z = A x` written into `z` (every entry overwritten), for callers that re-use a buffer.
    /// - Precondition: `x.count == columnCount`, `z.count == rowCount`.
    public func multiply(_ x: [Double], into z: inout [Double]) {
        precondition(x.count == columnCount, "multiply: x has \(x.count) entries, A has \(columnCount) columns")
        precondition(z.count == rowCount, "multiply: z has \(z.count) entries, A has \(rowCount) rows")
        z.withUnsafeMutableBufferPointer { zb in
            x.withUnsafeBufferPointer { xb in
                let out = SharedBuffer(zb), xs = SharedReadBuffer(xb)
                withRowChunks(partition) { rows, p in
                    for i in rows { out.buffer[i] = p.dot(row: i, xs.buffer) }
                }
            }
        }
    }

    /// `A^T y`, one streaming pass. Per-chunk partial sums are added in chunk order.
    /// - Precondition: `y.count == rowCount`.
    public func transposeMultiply(_ y: [Double]) -> [Double] {
        transposeMultiply([y])[0]
    }

    /// `[A^T y_1, ..., A^T y_k]` in one streaming pass over A per group of up to four
    /// right-hand sides: each nonzero updates a 4-wide SIMD partial (interleaved by column),
    /// so the row is read once for all of them.
    /// - Precondition: every `y_m.count == rowCount`.
    public func transposeMultiply(_ ys: [[Double]]) -> [[Double]] {
        let k = ys.count
        for y in ys { precondition(y.count == rowCount, "transposeMultiply: y has \(y.count) entries, A has \(rowCount) rows") }
        var out = [[Double]]()
        out.reserveCapacity(k)
        var g = 0
        while g < k {
            let width = min(4, k - g)
            if width == 1 {
                out.append(transposeMultiplySingle(ys[g]))
            } else {
                // Lanes past `width` repeat the last y and are discarded.
                let last = g + width - 1
                out += ys[g].withUnsafeBufferPointer { p0 in
                    ys[min(g + 1, last)].withUnsafeBufferPointer { p1 in
                        ys[min(g + 2, last)].withUnsafeBufferPointer { p2 in
                            ys[min(g + 3, last)].withUnsafeBufferPointer { p3 in
                                transposeMultiplyFour(SharedReadBuffer(p0), SharedReadBuffer(p1), SharedReadBuffer(p2), SharedReadBuffer(p3), width: width)
                            }
                        }
                    }
                }
            }
            g += width
        }
        return out
    }

    /// `A^T y` for one y: a scalar partial d-vector per chunk, combined in chunk order.
    private func transposeMultiplySingle(_ y: [Double]) -> [Double] {
        let d = columnCount
        let part = transposePartition
        return ChunkPartials.with(parts: part.count, width: d, zero: 0.0) { partials in
            y.withUnsafeBufferPointer { yb in
                let ys = SharedReadBuffer(yb)
                withRowChunksIndexed(part) { c, rows, p in
                    let block = partials.block(c)
                    for i in rows {
                        let yi = ys.buffer[i]
                        if yi == 0 { continue }
                        for e in p.rowOffsets[i]..<p.rowOffsets[i + 1] { block[Int(p.columnIndices[e])] += p.values[e] * yi }
                    }
                }
            }
            var result = partials.sum()
            combineOverRanks(&result)
            return result
        }
    }

    /// `A^T y_m` for m < `width` <= 4 in one pass: chunk partials of d SIMD4 lanes.
    private func transposeMultiplyFour(_ y0: SharedReadBuffer<Double>, _ y1: SharedReadBuffer<Double>, _ y2: SharedReadBuffer<Double>,
                                       _ y3: SharedReadBuffer<Double>, width: Int) -> [[Double]] {
        transposeMultiply(width: width) { i in SIMD4(y0.buffer[i], y1.buffer[i], y2.buffer[i], y3.buffer[i]) }
    }

    /// `A^T y_m` for m < `width` <= 4 in one pass, where row i's entries `(y_0[i], ..., y_3[i])`
    /// are computed by `entries(i)` as the pass reaches the row, so the y's are never stored
    /// (the gradient's weights are formed this way). Lanes past `width` are discarded but take
    /// part in the skip of all-zero rows: let them repeat the last y, as
    /// `transposeMultiply(_ ys:)` does, for the same bits.
    @inlinable
    package func transposeMultiply(width: Int, entries: @Sendable (Int) -> SIMD4<Double>) -> [[Double]] {
        let d = columnCount
        let part = transposePartition
        return ChunkPartials.with(parts: part.count, width: d, zero: SIMD4<Double>.zero) { partials in
            withRowChunksIndexed(part) { c, rows, p in
                let block = partials.block(c)
                for i in rows {
                    let yv = entries(i)
                    if yv == .zero { continue }
                    for e in p.rowOffsets[i]..<p.rowOffsets[i + 1] { block[Int(p.columnIndices[e])] += p.values[e] * yv }
                }
            }
            let local = (0..<width).map { m in
                var r = [Double](repeating: 0, count: d)
                r.withUnsafeMutableBufferPointer { rb in
                    partials.forEachInOrder { block in
                        for j in 0..<d { rb[j] += block[j][m] }
                    }
                }
                return r
            }
            return combineOverRanks(local)
        }
    }

    /// Adds `partial` (this rank's sum over its rows) over the ranks of a distributed
    /// matrix, in rank order (`Communicator.sum`); nothing for a matrix held whole. The one
    /// combine step of every reduction over rows.
    @inlinable
    package func combineOverRanks(_ partial: inout [Double]) {
        if distribution.isDistributed { distribution.communicator.sum(&partial) }
    }

    /// `combineOverRanks` for several vectors at once (one collective).
    @inlinable
    package func combineOverRanks(_ partials: [[Double]]) -> [[Double]] {
        guard distribution.isDistributed else { return partials }
        var flat = partials.flatMap { $0 }
        distribution.communicator.sum(&flat)
        var out = [[Double]]()
        var start = 0
        for p in partials {
            out.append(Array(flat[start ..< start + p.count]))
            start += p.count
        }
        return out
    }
}

/// Raw read-only pointers to a CSR matrix's arrays, valid inside a row-chunk body.
@usableFromInline
package struct CSRPointers: @unchecked Sendable {
    /// Row offsets (n + 1).
    @usableFromInline package let rowOffsets: UnsafeBufferPointer<Int>
    /// Column indices (nnz).
    @usableFromInline package let columnIndices: UnsafeBufferPointer<Int32>
    /// Values (nnz).
    @usableFromInline package let values: UnsafeBufferPointer<Double>

    /// Wraps the three arrays.
    @inlinable package init(rowOffsets: UnsafeBufferPointer<Int>, columnIndices: UnsafeBufferPointer<Int32>, values: UnsafeBufferPointer<Double>) {
        self.rowOffsets = rowOffsets
        self.columnIndices = columnIndices
        self.values = values
    }

    /// `<A[i, :], x>` summed in storage order.
    @inlinable package func dot(row i: Int, _ x: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for e in rowOffsets[i] ..< rowOffsets[i + 1] { s += values[e] * x[Int(columnIndices[e])] }
        return s
    }
}
