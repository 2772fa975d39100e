// The d x d matrix K = A^T diag(s) A, assembled by one streaming pass over A's rows.
//
// The pattern (upper triangle, compressed by column, Int32 as CHOLMOD's int interface
// takes it) is computed once; every assembly writes values in that order. Weights may be
// negative (the true Hessian's `delta` can be) and rows may be restricted to a subset
// (the leverage-score sample). Chunks accumulate into their own value arrays, combined in
// chunk order: deterministic, and the combine is an allreduce-shaped sum.

/// The symbolic structure of `A^T A`: the upper triangle (row <= column) in compressed
/// sparse column form, plus what assembly needs to place each product.
public struct NormalMatrixPattern: Sendable {
    /// Dimension d (the column count of A).
    public let dimension: Int
    /// Column k occupies `columnOffsets[k] ..< columnOffsets[k + 1]` of `rowIndices`.
    public let columnOffsets: [Int32]
    /// Row index of each stored entry, increasing within a column, always <= the column.
    public let rowIndices: [Int32]
    /// True when every upper-triangle entry is present (then entry (j, k) is at k(k+1)/2 + j).
    public let isDense: Bool

    /// Number of stored entries (upper triangle with diagonal).
    public var entryCount: Int { rowIndices.count }

    /// Computes the upper-triangle pattern of `A^T A` for `matrix`, including every
    /// diagonal entry (so a shift `beta I` always has a place). Cost: one transpose of
    /// the pattern and the sum over rows of (nonzeros in row)^2 / 2; but when the first
    /// 4 096 (or else 65 536) rows already fill the triangle (typical for n >> d), the
    /// pattern is dense and only those rows are read.
    ///
    /// - Throws: `SparseStructureError` if the pattern has more than `Int32.max` entries.
    ///
    /// For one rank's block of a distributed matrix (collective): the union over the ranks
    /// of their blocks' patterns, the same on every rank, so assembled values can be summed
    /// position by position (`assemble`).
    public init(matrix: CSRMatrix) throws(SparseStructureError) {
        if matrix.distribution.isDistributed {
            let comm = matrix.communicator
            let local = Result { () throws(SparseStructureError) in try NormalMatrixPattern(matrix: matrix.with(distribution: .whole(rowCount: matrix.rowCount, nonzeroCount: matrix.nonzeroCount))) }
            if let failure = comm.firstError({ if case .failure(let e) = local { return e.message } else { return nil } }()) {
                throw SparseStructureError(failure.message, kind: .tooLargeForCholmod)
            }
            let mine = try local.get()
            self = try NormalMatrixPattern(union: mine, over: comm)
            return
        }
        let d = matrix.columnCount
        dimension = d
        let denseCount = d * (d + 1) / 2
        // A^T A over a prefix of rows is a sub-pattern of the whole: dense there, dense
        // everywhere. Probes of 4 096 rows, then 65 536, before all rows (the small probe
        // settles the usual n >> d case at a fraction of a pass; a failed probe costs at
        // most 1/16 of the next one).
        for probeRows in Self.probeRowCounts where matrix.rowCount > probeRows {
            let (offsets, rows) = try Self.upperPattern(matrix, rowLimit: probeRows)
            if rows.count == denseCount {
                columnOffsets = offsets
                rowIndices = rows
                isDense = true
                return
            }
        }
        let (offsets, rows) = try Self.upperPattern(matrix, rowLimit: matrix.rowCount)
        columnOffsets = offsets
        rowIndices = rows
        isDense = rows.count == denseCount
    }

    /// The union of every rank's `local` pattern (collective; the same result on every rank).
    private init(union local: NormalMatrixPattern, over comm: any Communicator) throws(SparseStructureError) {
        let d = local.dimension
        if comm.all(local.isDense) {
            self = local
            return
        }
        dimension = d
        let offsets = comm.allGather(local.columnOffsets.map { Int($0) })
        let rows = comm.allGather(local.rowIndices.map { Int($0) })
        var newOffsets = [Int32](repeating: 0, count: d + 1)
        var newRows = [Int32]()
        var column = Set<Int32>()
        for k in 0 ..< d {
            column.removeAll(keepingCapacity: true)
            for r in 0 ..< offsets.count {
                for t in offsets[r][k] ..< offsets[r][k + 1] { column.insert(Int32(rows[r][t])) }
            }
            newRows.append(contentsOf: column.sorted())
            guard newRows.count <= Int(Int32.max) else {
                throw SparseStructureError("A^T A has more than \(Int32.max) upper-triangle entries; too large for CHOLMOD's int interface", kind: .tooLargeForCholmod)
            }
            newOffsets[k + 1] = Int32(newRows.count)
        }
        columnOffsets = newOffsets
        rowIndices = newRows
        isDense = newRows.count == d * (d + 1) / 2
    }

    /// The row-prefix lengths probed, in order, for a dense triangle before the whole matrix.
    static let probeRowCounts = [1 << 12, 1 << 16]

    /// The upper-triangle pattern of `A[0 ..< rowLimit, :]^T A[0 ..< rowLimit, :]` plus the diagonal.
    private static func upperPattern(_ matrix: CSRMatrix, rowLimit: Int) throws(SparseStructureError) -> ([Int32], [Int32]) {
        let d = matrix.columnCount
        let nonzeros = matrix.rowOffsets[rowLimit]
        // Column patterns of A (the transpose's rows), pattern only.
        var colCounts = [Int](repeating: 0, count: d + 1)
        for e in 0..<nonzeros { colCounts[Int(matrix.columnIndices[e]) + 1] += 1 }
        for j in 0..<d { colCounts[j + 1] += colCounts[j] }
        var next = colCounts
        var rowsOfColumn = [Int32](repeating: 0, count: nonzeros)
        for i in 0..<rowLimit {
            for e in matrix.rowOffsets[i]..<matrix.rowOffsets[i + 1] {
                let j = Int(matrix.columnIndices[e])
                rowsOfColumn[next[j]] = Int32(i)
                next[j] += 1
            }
        }
        var offsets = [Int32](repeating: 0, count: d + 1)
        var rows = [Int32]()
        var mark = [Int](repeating: -1, count: d)
        var column = [Int32]()
        var total = 0
        for k in 0..<d {
            column.removeAll(keepingCapacity: true)
            mark[k] = k
            column.append(Int32(k))
            for t in colCounts[k]..<colCounts[k + 1] {
                if column.count == k + 1 { break }  // column k of the triangle is already full
                let i = Int(rowsOfColumn[t])
                for e in matrix.rowOffsets[i]..<matrix.rowOffsets[i + 1] {
                    let j = Int(matrix.columnIndices[e])
                    if j > k { break }  // columns are sorted within a row
                    if mark[j] != k { mark[j] = k; column.append(Int32(j)) }
                }
            }
            column.sort()
            rows.append(contentsOf: column)
            total += column.count
            guard total <= Int(Int32.max) else {
                throw SparseStructureError("A^T A has more than \(Int32.max) upper-triangle entries; too large for CHOLMOD's int interface", kind: .tooLargeForCholmod)
            }
            offsets[k + 1] = Int32(total)
        }
        return (offsets, rows)
    }

    /// Position of entry (`row`, `column`), `row <= column`, in the value array; -1 if absent.
    @inlinable
    public func position(row: Int32, column: Int32, offsets: UnsafeBufferPointer<Int32>, rows: UnsafeBufferPointer<Int32>) -> Int {
        if isDense { return Int(column) * (Int(column) + 1) / 2 + Int(row) }
        var lo = Int(offsets[Int(column)]), hi = Int(offsets[Int(column) + 1])
        while lo < hi {
            let mid = (lo + hi) >> 1
            let r = rows[mid]
            if r == row { return mid }
            if r < row { lo = mid + 1 } else { hi = mid }
        }
        return -1
    }

    /// The values of `K = A^T diag(weights) A` (upper triangle, pattern order), summed over
    /// all rows, or only over `rows` when given (a subset, e.g. a sample of kept rows,
    /// each listed once). `matrix` must be the matrix the pattern was computed from.
    ///
    /// Work: sum over the rows used of (nonzeros in row)^2 / 2 multiply-adds; one pass
    /// over those rows of A.
    public func assemble(_ matrix: CSRMatrix, weights: [Double], rows subset: [Int]? = nil) -> [Double] {
        precondition(matrix.columnCount == dimension, "assemble: matrix does not match the pattern")
        precondition(weights.count == matrix.rowCount, "assemble: \(weights.count) weights for \(matrix.rowCount) rows")
        guard let subset else {
            // All rows: the chunks of the transpose products (`assembleWithProducts` can then
            // give the same bits in one sweep).
            return weights.withUnsafeBufferPointer { wts in
                let pw = SharedReadBuffer(wts)
                return assembleWithProducts(matrix, width: 0, weight: { pw.buffer[$0] }, entries: { _ in .zero }).values
            }
        }
        let m = entryCount
        // Chunks: subset positions split into up to 64 pieces by work alone (so any thread
        // count up to 64 is used, and the bits do not depend on it); partial triangles are held
        // for at most as many chunks at once as there are threads, and never more than about
        // 256 MB of them (`ChunkPartials.streamedSum`).
        let itemCount = subset.count
        let chunks = max(1, min(64, itemCount * 8 / (1 << 15)))
        let itemPartition = RowPartition(rowCount: itemCount, maxChunks: chunks, minimumRows: 1)
        let pattern = self
        return columnOffsets.withUnsafeBufferPointer { offs in
            rowIndices.withUnsafeBufferPointer { rws in
                weights.withUnsafeBufferPointer { wts in
                    subset.withUnsafeBufferPointer { sub in
                        let po = SharedReadBuffer(offs), pr = SharedReadBuffer(rws), pw = SharedReadBuffer(wts), ps = SharedReadBuffer(sub)
                        return matrix.rowOffsets.withUnsafeBufferPointer { ro in
                            matrix.columnIndices.withUnsafeBufferPointer { ci in
                                matrix.values.withUnsafeBufferPointer { va in
                                    let a = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                                    var values = ChunkPartials.streamedSum(chunks: itemPartition.count, width: m, slots: pattern.partialSlots(width: m)) { c, out in
                                        for item in itemPartition.rows(c) {
                                            let i = ps.buffer[item]
                                            pattern.addRow(i, weight: pw.buffer[i], a, into: out, offsets: po.buffer, rows: pr.buffer)
                                        }
                                    }
                                    matrix.combineOverRanks(&values)
                                    return values
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Partial blocks of `width` doubles held at once: one per thread, and never more than
    /// about 256 MB of them.
    @inlinable
    package func partialSlots(width: Int) -> Int { max(1, min(Parallelism.threadCount, (1 << 25) / max(1, width))) }

    /// Adds `s a_i a_i^T` (row i of A with weight s; nothing when s is 0) to the packed
    /// triangle `out` (pattern order). The hot loop of exact Newton (docs/performance.md).
    @inlinable @inline(__always)
    package func addRow(_ i: Int, weight s: Double, _ a: CSRPointers, into out: UnsafeMutablePointer<Double>,
                        offsets po: UnsafeBufferPointer<Int32>, rows pr: UnsafeBufferPointer<Int32>) {
        if s == 0 { return }
        let start = a.rowOffsets[i], end = a.rowOffsets[i + 1]
        if isDense {
            // Packed upper triangle: column k starts at k(k+1)/2.
            for bIndex in start..<end {
                let k = Int(a.columnIndices[bIndex])
                let column = out + (k &* (k &+ 1)) >> 1
                let sk = s * a.values[bIndex]
                var aIndex = start
                while aIndex <= bIndex {
                    column[Int(a.columnIndices[aIndex])] += sk * a.values[aIndex]
                    aIndex &+= 1
                }
            }
            return
        }
        for bIndex in start..<end {
            let k = a.columnIndices[bIndex]
            let sk = s * a.values[bIndex]
            for aIndex in start...bIndex {
                let pos = position(row: a.columnIndices[aIndex], column: k, offsets: po, rows: pr)
                out[pos] += sk * a.values[aIndex]
            }
        }
    }

    /// `A^T diag(s) A` over all rows (as `assemble`) and the transpose products
    /// `sum_i a_i y_i[l]` for the first `width` (at most 3) lanes of `entries(i)`, in one sweep
    /// over the rows: the Newton iteration's gradient pass and assembly fused (issue 14, item
    /// 3), A read once. `weight(i)` and `entries(i)` are formed as the sweep reaches row i (no
    /// n-vector). Chunks are `matrix.transposePartition`'s and each chunk's triangle and
    /// products are folded in chunk order, so the values have the bits of `assemble` and the
    /// products those of `CSRMatrix.transposeMultiply(width:entries:)` (rows whose lanes are
    /// all 0 are skipped by both), for any thread count. `nonFiniteWeights` counts the rows
    /// whose weight is not finite (over all ranks). For one rank's block of a distributed
    /// matrix (collective): everything is summed over the ranks in one combine step.
    @inlinable
    package func assembleWithProducts(_ matrix: CSRMatrix, width: Int, weight: @Sendable (Int) -> Double,
                                      entries: @Sendable (Int) -> SIMD4<Double>) -> (values: [Double], products: [[Double]], nonFiniteWeights: Int) {
        precondition(matrix.columnCount == dimension, "assembleWithProducts: matrix does not match the pattern")
        precondition(width >= 0 && width <= 3, "assembleWithProducts: width \(width) not in 0...3")
        let m = entryCount, d = dimension
        // The triangle, then (width > 0) four lanes per column as `transposeMultiply` holds them
        // (one 32-byte group per column: a nonzero touches one, not three spread by d), then the
        // count of non-finite weights.
        let laneWidth = width > 0 ? 4 * d : 0
        let total = m + laneWidth + 1
        let part = matrix.transposePartition
        let pattern = self
        var flat = columnOffsets.withUnsafeBufferPointer { offs in
            rowIndices.withUnsafeBufferPointer { rws in
                let po = SharedReadBuffer(offs), pr = SharedReadBuffer(rws)
                return matrix.rowOffsets.withUnsafeBufferPointer { ro in
                    matrix.columnIndices.withUnsafeBufferPointer { ci in
                        matrix.values.withUnsafeBufferPointer { va in
                            let a = CSRPointers(rowOffsets: ro, columnIndices: ci, values: va)
                            return ChunkPartials.streamedSum(chunks: part.count, width: total, slots: pattern.partialSlots(width: total)) { c, out in
                                let lanes = UnsafeMutableRawPointer(out + m)
                                let stride = MemoryLayout<SIMD4<Double>>.stride
                                for i in part.rows(c) {
                                    let s = weight(i)
                                    if !s.isFinite { out[total - 1] += 1 }
                                    pattern.addRow(i, weight: s, a, into: out, offsets: po.buffer, rows: pr.buffer)
                                    if width == 0 { continue }
                                    let y = entries(i)
                                    if y == .zero { continue }
                                    for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] {
                                        let offset = Int(a.columnIndices[e]) &* stride
                                        let sum = lanes.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self) + a.values[e] * y
                                        lanes.storeBytes(of: sum, toByteOffset: offset, as: SIMD4<Double>.self)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        matrix.combineOverRanks(&flat)
        let products = (0..<width).map { l in (0..<d).map { j in flat[m + 4 * j + l] } }
        let nonFinite = Int(flat[total - 1])
        flat.removeLast(total - m)
        return (flat, products, nonFinite)
    }

    /// Positions of the diagonal entries (k, k) in the value array.
    public var diagonalPositions: [Int] {
        (0..<dimension).map { k in Int(columnOffsets[k + 1]) - 1 }  // the diagonal is the last entry of its column
    }

    /// Dense symmetric d x d row-major expansion of `values` (for tests and small d).
    public func denseSymmetric(_ values: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: dimension * dimension)
        for k in 0..<dimension {
            for t in Int(columnOffsets[k])..<Int(columnOffsets[k + 1]) {
                let j = Int(rowIndices[t])
                out[j * dimension + k] = values[t]
                out[k * dimension + j] = values[t]
            }
        }
        return out
    }

    /// `y = K x` for the symmetric K whose upper triangle is `values`.
    public func multiply(_ values: [Double], _ x: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: dimension)
        for k in 0..<dimension {
            for t in Int(columnOffsets[k])..<Int(columnOffsets[k + 1]) {
                let j = Int(rowIndices[t])
                y[j] += values[t] * x[k]
                if j != k { y[k] += values[t] * x[j] }
            }
        }
        return y
    }
}

extension RowPartition {
    /// A partition with the given chunk boundaries (first 0, last the row or item count).
    public init(boundaries: [Int]) {
        precondition(boundaries.count >= 2 && boundaries.first == 0, "RowPartition: bad boundaries")
        self.boundaries = boundaries
    }
}
