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
    public func withRowChunks(_ partition: RowPartition, _ body: @Sendable (Range<Int>, CSRPointers) -> Void) {
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
    public func withRowChunksIndexed(_ partition: RowPartition, _ body: @Sendable (Int, Range<Int>, CSRPointers) -> Void) {
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
    public func mapRowChunks<R: Sendable>(_ partition: RowPartition, _ body: @Sendable (Range<Int>, CSRPointers) -> R) -> [R] {
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
        precondition(x.count == columnCount, "multiply: x has \(x.count) entries, A has \(columnCount) columns")
        var z = [Double](repeating: 0, count: rowCount)
        z.withUnsafeMutableBufferPointer { zb in
            x.withUnsafeBufferPointer { xb in
                let out = SharedBuffer(zb), xs = SharedReadBuffer(xb)
                withRowChunks(partition) { rows, p in
                    for i in rows { out.buffer[i] = p.dot(row: i, xs.buffer) }
                }
            }
        }
        return z
    }

    /// `A^T y`, one streaming pass. Per-chunk partial sums are added in chunk order.
    /// - Precondition: `y.count == rowCount`.
    public func transposeMultiply(_ y: [Double]) -> [Double] {
        transposeMultiply([y])[0]
    }

    /// `[A^T y_1, ..., A^T y_k]` in one streaming pass over A.
    /// - Precondition: every `y_m.count == rowCount`.
    public func transposeMultiply(_ ys: [[Double]]) -> [[Double]] {
        let k = ys.count
        for y in ys { precondition(y.count == rowCount, "transposeMultiply: y has \(y.count) entries, A has \(rowCount) rows") }
        if k == 0 { return [] }
        let d = columnCount
        let part = transposePartition
        // One partial block of k*d doubles per chunk: [m * d + j].
        let partials = UnsafeMutableBufferPointer<Double>.allocate(capacity: part.count * k * d)
        partials.initialize(repeating: 0)
        defer { partials.deallocate() }
        let shared = SharedBuffer(partials)
        withRowChunksIndexed(part) { c, rows, p in
            let base = shared.buffer.baseAddress! + c * k * d
            for i in rows {
                let start = p.rowOffsets[i], end = p.rowOffsets[i + 1]
                if start == end { continue }
                for m in 0..<k {
                    let yi = ys[m][i]
                    if yi == 0 { continue }
                    let block = base + m * d
                    for e in start..<end { block[Int(p.columnIndices[e])] += p.values[e] * yi }
                }
            }
        }
        var out = [[Double]]()
        out.reserveCapacity(k)
        for m in 0..<k {
            var r = [Double](repeating: 0, count: d)
            r.withUnsafeMutableBufferPointer { rb in
                for c in 0..<part.count {
                    let block = partials.baseAddress! + c * k * d + m * d
                    for j in 0..<d { rb[j] += block[j] }
                }
            }
            out.append(r)
        }
        return out
    }
}

/// Raw read-only pointers to a CSR matrix's arrays, valid inside a row-chunk body.
public struct CSRPointers: @unchecked Sendable {
    /// Row offsets (n + 1).
    public let rowOffsets: UnsafeBufferPointer<Int>
    /// Column indices (nnz).
    public let columnIndices: UnsafeBufferPointer<Int32>
    /// Values (nnz).
    public let values: UnsafeBufferPointer<Double>

    /// Wraps the three arrays.
    @inlinable public init(rowOffsets: UnsafeBufferPointer<Int>, columnIndices: UnsafeBufferPointer<Int32>, values: UnsafeBufferPointer<Double>) {
        self.rowOffsets = rowOffsets
        self.columnIndices = columnIndices
        self.values = values
    }

    /// `<A[i, :], x>` summed in storage order.
    @inlinable public func dot(row i: Int, _ x: UnsafeBufferPointer<Double>) -> Double {
        var s = 0.0
        for e in rowOffsets[i] ..< rowOffsets[i + 1] { s += values[e] * x[Int(columnIndices[e])] }
        return s
    }
}
