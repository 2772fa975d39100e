// SparseCore: the compressed-sparse-row matrix type and its invariants.
//
// A CSR matrix with `rowCount` rows stores, for row i, the column indices
// `columnIndices[rowOffsets[i] ..< rowOffsets[i+1]]` (strictly increasing) and the
// matching `values`. Read as compressed-sparse-column, the same three arrays are
// the transpose: this is how the matrix reaches CHOLMOD without copying.

/// An error in the structure of sparse data handed to SparseCore.
public struct SparseStructureError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong, typed, with the offending values (rows and entries 0-based, as stored).
    public enum Kind: Sendable, Equatable {
        /// A negative row or column count.
        case negativeDimension(rows: Int, columns: Int)
        /// More columns than `Int32` column indices can address.
        case tooManyColumns(Int)
        /// `rowOffsets` has the wrong length.
        case rowOffsetsLength(got: Int, expected: Int)
        /// `rowOffsets[0]` is not 0.
        case firstOffset(Int)
        /// `columnIndices` and `values` differ in length.
        case arrayLengths(columnIndices: Int, values: Int)
        /// The last row offset is not the entry count.
        case lastOffset(got: Int, entries: Int)
        /// `rowOffsets` decreases at this row.
        case decreasingOffsets(row: Int)
        /// The offset ending this row lies beyond the stored entries.
        case offsetBeyondEntries(row: Int, offset: Int, entries: Int)
        /// A column index outside `0 ..< columnCount`.
        case columnOutOfRange(row: Int, column: Int, columns: Int)
        /// Column indices of a row not strictly increasing at this entry.
        case unsortedColumns(row: Int, entry: Int)
        /// `A^T A` would have more upper-triangle entries than CHOLMOD's int interface allows.
        case tooLargeForCholmod
        /// Anything else (described by `message` alone).
        case other
    }

    /// What is wrong, in words.
    public let message: String
    /// What is wrong, typed.
    public let kind: Kind
    /// Creates an error with the given message (kind `.other`).
    public init(_ message: String) { self.init(message, kind: .other) }
    /// Creates an error with its message and kind.
    public init(_ message: String, kind: Kind) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }
}

/// An `rowCount x columnCount` sparse matrix in compressed-sparse-row form.
///
/// Invariants (checked by `init(rowCount:columnCount:rowOffsets:columnIndices:values:)`):
/// * `rowOffsets.count == rowCount + 1`, `rowOffsets[0] == 0`, non-decreasing,
///   `rowOffsets[rowCount] == columnIndices.count == values.count`;
/// * within a row, column indices are strictly increasing and in `0 ..< columnCount`
///   (so there are no duplicates);
/// * explicit zeros are allowed (real files store them).
///
/// Column indices are `Int32` (12 bytes per nonzero with the `Double` value), so
/// `columnCount` is at most `Int32.max`. Row offsets are `Int`.
public struct CSRMatrix: Sendable, Equatable {
    /// Number of rows (n).
    public let rowCount: Int
    /// Number of columns (d).
    public let columnCount: Int
    /// Row i occupies `rowOffsets[i] ..< rowOffsets[i + 1]` of `columnIndices` and `values`.
    public let rowOffsets: CSRBuffer<Int>
    /// Column index of each stored entry, increasing within a row.
    public let columnIndices: CSRBuffer<Int32>
    /// Value of each stored entry. (The three arrays are Swift arrays the matrix owns, or a
    /// caller's memory it borrows: `CSRBuffer`.)
    public let values: CSRBuffer<Double>
    /// Where these rows sit in a row-partitioned run: this matrix may be one rank's block
    /// of a larger matrix (`RowDistribution`), and then every reduction over its rows (A^T y,
    /// the Hessian assembly, the sketch, the solver's sums) is combined over the ranks.
    /// `RowDistribution.whole` (the default) for a matrix held by one process.
    public let distribution: RowDistribution

    /// Number of stored entries (including explicit zeros).
    @inlinable public var nonzeroCount: Int { columnIndices.count }

    /// Creates a matrix from CSR arrays, checking every invariant.
    ///
    /// - Throws: `SparseStructureError` naming the first violated invariant.
    public init(rowCount: Int, columnCount: Int, rowOffsets: [Int], columnIndices: [Int32], values: [Double]) throws(SparseStructureError) {
        try self.init(rowCount: rowCount, columnCount: columnCount, rowOffsets: CSRBuffer(rowOffsets), columnIndices: CSRBuffer(columnIndices), values: CSRBuffer(values))
    }

    /// Creates a matrix from CSR storage (Swift arrays or a caller's borrowed memory,
    /// `CSRBuffer`), checking every invariant: a caller's arrays are used without a copy.
    ///
    /// - Throws: `SparseStructureError` naming the first violated invariant.
    public init(rowCount: Int, columnCount: Int, rowOffsets: CSRBuffer<Int>, columnIndices: CSRBuffer<Int32>, values: CSRBuffer<Double>) throws(SparseStructureError) {
        guard rowCount >= 0, columnCount >= 0 else { throw SparseStructureError("negative dimension \(rowCount) x \(columnCount)", kind: .negativeDimension(rows: rowCount, columns: columnCount)) }
        guard columnCount <= Int(Int32.max) else { throw SparseStructureError("column count \(columnCount) exceeds Int32.max", kind: .tooManyColumns(columnCount)) }
        guard rowOffsets.count == rowCount + 1 else { throw SparseStructureError("rowOffsets has \(rowOffsets.count) entries, expected \(rowCount + 1)", kind: .rowOffsetsLength(got: rowOffsets.count, expected: rowCount + 1)) }
        guard rowOffsets[0] == 0 else { throw SparseStructureError("rowOffsets[0] is \(rowOffsets[0]), expected 0", kind: .firstOffset(rowOffsets[0])) }
        guard columnIndices.count == values.count else { throw SparseStructureError("\(columnIndices.count) column indices but \(values.count) values", kind: .arrayLengths(columnIndices: columnIndices.count, values: values.count)) }
        guard rowOffsets[rowCount] == columnIndices.count else { throw SparseStructureError("rowOffsets ends at \(rowOffsets[rowCount]) but there are \(columnIndices.count) entries", kind: .lastOffset(got: rowOffsets[rowCount], entries: columnIndices.count)) }
        let entries = columnIndices.count
        // The offsets first (serial, n + 1 reads); then the rows' columns in parallel chunks of
        // rows, the first problem in row order reported (the same error for any thread count).
        let offsetProblem: SparseStructureError? = rowOffsets.withUnsafeBufferPointer { offsets in
            for i in 0..<rowCount {
                let start = offsets[i], end = offsets[i + 1]
                guard start <= end else { return SparseStructureError("rowOffsets decreases at row \(i)", kind: .decreasingOffsets(row: i)) }
                guard end <= entries else {
                    return SparseStructureError("row \(i) ends at offset \(end), beyond the \(entries) entries", kind: .offsetBeyondEntries(row: i, offset: end, entries: entries))
                }
            }
            return nil
        }
        if let offsetProblem { throw offsetProblem }
        let rows = RowPartition(rowCount: rowCount, maxChunks: 64, minimumRows: 1 << 14)
        let problem: SparseStructureError? = rowOffsets.withUnsafeBufferPointer { ob in
            columnIndices.withUnsafeBufferPointer { ib in
                let offsets = SharedReadBuffer(ob), indices = SharedReadBuffer(ib)
                return Parallelism.mapChunks(rows.count) { c -> SparseStructureError? in
                    for i in rows.rows(c) {
                        var previous: Int32 = -1
                        for k in offsets.buffer[i]..<offsets.buffer[i + 1] {
                            let j = indices.buffer[k]
                            guard j >= 0, Int(j) < columnCount else { return SparseStructureError("row \(i): column index \(j) outside 0..<\(columnCount)", kind: .columnOutOfRange(row: i, column: Int(j), columns: columnCount)) }
                            guard j > previous else { return SparseStructureError("row \(i): column indices not strictly increasing at entry \(k)", kind: .unsortedColumns(row: i, entry: k)) }
                            previous = j
                        }
                    }
                    return nil
                }.first { $0 != nil } ?? nil
            }
        }
        if let problem { throw problem }
        self.init(uncheckedRowCount: rowCount, columnCount: columnCount, rowOffsets: rowOffsets, columnIndices: columnIndices, values: values)
    }

    /// Creates a matrix from CSR arrays the caller guarantees to be valid (no checks).
    public init(uncheckedRowCount rowCount: Int, columnCount: Int, rowOffsets: [Int], columnIndices: [Int32], values: [Double]) {
        self.init(uncheckedRowCount: rowCount, columnCount: columnCount, rowOffsets: CSRBuffer(rowOffsets), columnIndices: CSRBuffer(columnIndices), values: CSRBuffer(values))
    }

    /// Creates a matrix from CSR storage the caller guarantees to be valid (no checks).
    public init(uncheckedRowCount rowCount: Int, columnCount: Int, rowOffsets: CSRBuffer<Int>, columnIndices: CSRBuffer<Int32>, values: CSRBuffer<Double>) {
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.rowOffsets = rowOffsets
        self.columnIndices = columnIndices
        self.values = values
        distribution = .whole(rowCount: rowCount, nonzeroCount: columnIndices.count)
    }

    private init(_ m: CSRMatrix, distribution: RowDistribution) {
        rowCount = m.rowCount
        columnCount = m.columnCount
        rowOffsets = m.rowOffsets
        columnIndices = m.columnIndices
        values = m.values
        self.distribution = distribution
    }

    /// This matrix as rank `communicator.rank`'s block of a row-partitioned matrix whose
    /// block starts at global row `rowOffset`. Collective: every rank calls it (the global
    /// row and entry counts are summed over the ranks). With a `SingleProcess` communicator
    /// it returns the matrix unchanged.
    public func distributed(over communicator: any Communicator, rowOffset: Int) -> CSRMatrix {
        if communicator.size == 1 {
            precondition(rowOffset == 0)
            return self
        }
        let counts = communicator.allGather([rowCount, nonzeroCount, rowOffset])
        var expectedOffset = 0
        for (r, c) in counts.enumerated() {
            precondition(c[2] == expectedOffset, "distributed: rank \(r)'s block starts at row \(c[2]), expected \(expectedOffset)")
            expectedOffset += c[0]
        }
        return CSRMatrix(self, distribution: RowDistribution(communicator: communicator, rowOffset: rowOffset,
                                                             globalRowCount: counts.reduce(0) { $0 + $1[0] },
                                                             globalNonzeroCount: counts.reduce(0) { $0 + $1[1] }))
    }

    /// The same arrays under another distribution (for matrices derived row by row from a
    /// distributed one, e.g. a row sample: the derived blocks are again one per rank).
    public func with(distribution: RowDistribution) -> CSRMatrix { CSRMatrix(self, distribution: distribution) }

    /// The number of rows of the whole matrix (`rowCount` unless this is one rank's block).
    @inlinable public var globalRowCount: Int { distribution.globalRowCount }
    /// The number of stored entries of the whole matrix (`nonzeroCount` unless this is one rank's block).
    @inlinable public var globalNonzeroCount: Int { distribution.globalNonzeroCount }
    /// The communicator reductions over the rows combine through (`SingleProcess` unless distributed).
    @inlinable public var communicator: any Communicator { distribution.communicator }

    /// Equal arrays, shape and block position (the communicator is not compared).
    public static func == (lhs: CSRMatrix, rhs: CSRMatrix) -> Bool {
        lhs.rowCount == rhs.rowCount && lhs.columnCount == rhs.columnCount && lhs.rowOffsets == rhs.rowOffsets
            && lhs.columnIndices == rhs.columnIndices && lhs.values == rhs.values
            && lhs.distribution.rowOffset == rhs.distribution.rowOffset && lhs.distribution.globalRowCount == rhs.distribution.globalRowCount
    }

    /// The same pattern with new values (same count, same order).
    public func withValues(_ newValues: [Double]) -> CSRMatrix {
        precondition(newValues.count == values.count, "withValues: count mismatch")
        return CSRMatrix(uncheckedRowCount: rowCount, columnCount: columnCount, rowOffsets: rowOffsets, columnIndices: columnIndices, values: CSRBuffer(newValues))
            .with(distribution: distribution)
    }

    /// Number of stored entries in row `i`.
    @inlinable public func nonzeroCount(inRow i: Int) -> Int { rowOffsets[i + 1] - rowOffsets[i] }

    /// The entry at (`row`, `column`), zero when not stored (binary search in the row).
    public func value(row: Int, column: Int) -> Double {
        var lo = rowOffsets[row], hi = rowOffsets[row + 1]
        let key = Int32(column)
        while lo < hi {
            let mid = (lo + hi) / 2
            let c = columnIndices[mid]
            if c == key { return values[mid] }
            if c < key { lo = mid + 1 } else { hi = mid }
        }
        return 0
    }

    /// A dense row-major copy (`rowCount * columnCount` entries). For tests and small problems.
    public func denseRowMajor() -> [Double] {
        var out = [Double](repeating: 0, count: rowCount * columnCount)
        for i in 0..<rowCount {
            for k in rowOffsets[i]..<rowOffsets[i + 1] { out[i * columnCount + Int(columnIndices[k])] = values[k] }
        }
        return out
    }

    /// The transpose, in CSR form (a `columnCount x rowCount` matrix).
    public func transposed() -> CSRMatrix {
        var counts = [Int](repeating: 0, count: columnCount + 1)
        for j in columnIndices { counts[Int(j) + 1] += 1 }
        for j in 0..<columnCount { counts[j + 1] += counts[j] }
        var next = counts
        var indices = [Int32](repeating: 0, count: nonzeroCount)
        var vals = [Double](repeating: 0, count: nonzeroCount)
        for i in 0..<rowCount {
            for k in rowOffsets[i]..<rowOffsets[i + 1] {
                let j = Int(columnIndices[k])
                let slot = next[j]
                next[j] += 1
                indices[slot] = Int32(i)
                vals[slot] = values[k]
            }
        }
        return CSRMatrix(uncheckedRowCount: columnCount, columnCount: rowCount, rowOffsets: counts, columnIndices: indices, values: vals)
    }
}

extension CSRMatrix {
    /// Builds a CSR matrix from a dense row-major array, storing only nonzero entries.
    public init(denseRowMajor a: [Double], rowCount: Int, columnCount: Int) {
        precondition(a.count == rowCount * columnCount, "dense array has wrong size")
        var offsets = [0]
        offsets.reserveCapacity(rowCount + 1)
        var indices = [Int32]()
        var vals = [Double]()
        for i in 0..<rowCount {
            for j in 0..<columnCount where a[i * columnCount + j] != 0 {
                indices.append(Int32(j))
                vals.append(a[i * columnCount + j])
            }
            offsets.append(indices.count)
        }
        self.init(uncheckedRowCount: rowCount, columnCount: columnCount, rowOffsets: offsets, columnIndices: indices, values: vals)
    }
}
