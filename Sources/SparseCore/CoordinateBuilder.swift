/// Collects coordinate (i, j, value) entries in any order and builds a `CSRMatrix`,
/// summing duplicates (as SciPy and CHOLMOD do) and sorting columns within rows.
///
/// Memory while building: 16 bytes per appended entry, then the CSR result.
public struct CoordinateBuilder: Sendable {
    /// Number of rows of the matrix being built.
    public let rowCount: Int
    /// Number of columns of the matrix being built.
    public let columnCount: Int
    private var rows: [Int32] = []
    private var columns: [Int32] = []
    private var entries: [Double] = []
    private var rowIndexOverflow = false

    /// Creates an empty builder for a `rowCount x columnCount` matrix.
    /// - Parameters:
    ///   - rowCount: the matrix's rows (n >= 0).
    ///   - columnCount: the matrix's columns (0 <= d <= Int32.max).
    ///   - capacity: expected number of entries (avoids regrowth).
    public init(rowCount: Int, columnCount: Int, reservingCapacity capacity: Int = 0) {
        precondition(rowCount >= 0 && columnCount >= 0 && columnCount <= Int(Int32.max))
        self.rowCount = rowCount
        self.columnCount = columnCount
        rowIndexOverflow = rowCount > Int(Int32.max)
        rows.reserveCapacity(capacity)
        columns.reserveCapacity(capacity)
        entries.reserveCapacity(capacity)
        precondition(!rowIndexOverflow, "CoordinateBuilder: more than Int32.max rows is not supported")
    }

    /// Number of entries appended so far (duplicates counted separately).
    public var count: Int { entries.count }

    /// Appends the entry (`row`, `column`) = `value` (0-based). Duplicates are summed by `build()`.
    @inlinable public mutating func append(row: Int, column: Int, value: Double) {
        precondition(row >= 0 && row < rowCount && column >= 0 && column < columnCount, "CoordinateBuilder: (\(row), \(column)) outside \(rowCount) x \(columnCount)")
        appendUnchecked(row: Int32(truncatingIfNeeded: row), column: Int32(truncatingIfNeeded: column), value: value)
    }

    /// Appends an entry whose indices the caller has already range-checked.
    @usableFromInline mutating func appendUnchecked(row: Int32, column: Int32, value: Double) {
        rows.append(row)
        columns.append(column)
        entries.append(value)
    }

    /// Appends many already-checked entries at once (used by parallel parsers).
    public mutating func append(rows r: [Int32], columns c: [Int32], values v: [Double]) {
        precondition(r.count == c.count && c.count == v.count)
        rows.append(contentsOf: r)
        columns.append(contentsOf: c)
        entries.append(contentsOf: v)
    }

    /// Builds the CSR matrix: a counting sort by row, then a sort by column within each
    /// row, summing entries with equal (row, column). Explicit zeros are kept.
    /// Summation of duplicates happens in the order they were appended.
    public func build() -> CSRMatrix {
        let n = rowCount
        var offsets = [Int](repeating: 0, count: n + 1)
        for r in rows { offsets[Int(r) + 1] += 1 }
        for i in 0..<n { offsets[i + 1] += offsets[i] }
        var next = offsets
        let total = entries.count
        var cols = [Int32](repeating: 0, count: total)
        var vals = [Double](repeating: 0, count: total)
        for k in 0..<total {
            let r = Int(rows[k])
            let slot = next[r]
            next[r] += 1
            cols[slot] = columns[k]
            vals[slot] = entries[k]
        }
        // Sort within rows (stable, so duplicate sums are order-defined) and compact.
        var outOffsets = [Int](repeating: 0, count: n + 1)
        var write = 0
        var order: [Int] = []
        for i in 0..<n {
            let start = offsets[i], end = offsets[i + 1]
            var sorted = true
            if end - start > 1 {
                for k in (start + 1)..<end where cols[k] <= cols[k - 1] { sorted = false; break }
            }
            if sorted {
                for k in start..<end {
                    cols[write] = cols[k]; vals[write] = vals[k]; write += 1
                }
            } else {
                order.removeAll(keepingCapacity: true)
                order.append(contentsOf: start..<end)
                order.sort { (cols[$0], $0) < (cols[$1], $1) }
                let rowCols = order.map { cols[$0] }
                let rowVals = order.map { vals[$0] }
                var k = 0
                while k < rowCols.count {
                    let c = rowCols[k]
                    var s = rowVals[k]
                    k += 1
                    while k < rowCols.count && rowCols[k] == c { s += rowVals[k]; k += 1 }
                    cols[write] = c; vals[write] = s; write += 1
                }
            }
            outOffsets[i + 1] = write
        }
        cols.removeLast(total - write)
        vals.removeLast(total - write)
        return CSRMatrix(uncheckedRowCount: n, columnCount: columnCount, rowOffsets: outOffsets, columnIndices: cols, values: vals)
    }
}
