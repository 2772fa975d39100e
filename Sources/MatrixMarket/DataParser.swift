// The data section, parsed in parallel.
//
// The section is cut into chunks of about `chunkBytes` at newlines (a function of the
// bytes only; each parse task finds its own boundaries, so the text is touched once, by
// the task that parses it). A last line without '\n' is copied with one appended, so every
// chunk ends in '\n' and the scanners can use it as a sentinel. Each chunk counts its
// lines and entries and stops at its first error; errors are then resolved in file
// order, so the error reported is the one a sequential reader would hit first.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SparseCore

/// A byte range `[start, end)` whose last byte is '\n' (or empty, when one line is longer than a chunk).
struct ByteRange: @unchecked Sendable {
    let start: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>
}

/// What the data section must contain, and how to check it.
struct DataLayout: Sendable {
    let format: MatrixMarketFormat
    let field: MatrixMarketField
    let symmetry: MatrixMarketSymmetry
    let rowCount: Int
    let columnCount: Int
    let allowNonFinite: Bool
}

/// One chunk's entries (coordinate: 0-based Int32 row and column, value unless pattern;
/// array: values only), line count, and first error. Owned memory is freed on deinit.
final class ChunkOutput: @unchecked Sendable {
    var rows: UnsafeMutablePointer<Int32>?
    var columns: UnsafeMutablePointer<Int32>?
    var values: UnsafeMutablePointer<Double>?
    var capacity = 0
    /// Entries parsed (before the error, if any).
    var count = 0
    /// Newlines passed (all of the chunk's lines when there is no error).
    var lines = 0
    /// 0-based line within the chunk of the first error, or -1.
    var errorLine = -1
    var errorMessage = ""
    /// With `stopAtEntry`: the 0-based line within the chunk of that entry.
    var stopLine = -1
    /// Coordinate: whether the entries are strictly increasing in (row, column), and the
    /// first and last (row << 32 | column) keys, so a row-sorted file skips the scatter.
    var sortedByRow = true
    var firstKey = -1
    var lastKey = -1

    deinit { release() }

    /// Frees the entries (keeping `count` and the sortedness facts), so an assembler can
    /// return a chunk's memory as soon as it has consumed it.
    func release() {
        releaseRows()
        free(columns)
        free(values)
        columns = nil
        values = nil
    }

    /// Frees the row indices alone (a row-sorted assembly needs them only for counting).
    func releaseRows() {
        free(rows)
        rows = nil
    }

    /// Grows storage to `newCapacity` entries; false when out of memory.
    func grow(to newCapacity: Int, indices: Bool, values storeValues: Bool) -> Bool {
        if indices {
            guard let r = realloc(rows, newCapacity * 4), let c = realloc(columns, newCapacity * 4) else { return false }
            rows = r.assumingMemoryBound(to: Int32.self)
            columns = c.assumingMemoryBound(to: Int32.self)
        }
        if storeValues {
            guard let v = realloc(values, newCapacity * 8) else { return false }
            values = v.assumingMemoryBound(to: Double.self)
        }
        capacity = newCapacity
        return true
    }
}

/// A parsed data section: chunk outputs in file order (an assembler may release each
/// chunk, setting it to nil, as soon as it has consumed it), with the total entry count.
final class ParsedData {
    var chunks: [ChunkOutput?]
    let entryCount: Int

    init(chunks: [ChunkOutput], entryCount: Int) {
        self.chunks = chunks
        self.entryCount = entryCount
    }
}

/// Chunk size for the data section: at least 1 MiB, at most about 4096 chunks.
func chunkBytes(for dataBytes: Int) -> Int { max(1 << 20, dataBytes / 4096) }

/// Parses the data section of `input` (everything from `info.dataOffset`), checking
/// the entry count, and returns per-chunk entries.
func parseDataSection(_ input: InputBytes, _ info: HeaderInfo, _ layout: DataLayout, path: String) throws(MatrixMarketError) -> ParsedData {
    let expected = info.header.storedEntryCount
    let dataLine = info.sizeLine + 1
    let kind = layout.format == .coordinate ? "entries" : "values"
    var ranges: [ByteRange] = []
    var mainChunks = 0, mainStart = 0, mainStop = 0, chunkSize = 1
    var tail: UnsafeMutablePointer<UInt8>?
    defer { free(tail) }

    if let base = input.base, info.dataOffset < input.count {
        let start = info.dataOffset, count = input.count
        // The part ending in the last '\n', and a copied tail if the last line has none.
        var mainEnd = count
        if base[count - 1] != 0x0A {
            var i = count - 1
            while i >= start && base[i] != 0x0A { i -= 1 }
            mainEnd = i + 1
            let tailLength = count - mainEnd
            guard let t = malloc(tailLength + 1)?.assumingMemoryBound(to: UInt8.self) else {
                throw MatrixMarketError(path: path, message: "out of memory")
            }
            memcpy(t, base + mainEnd, tailLength)
            t[tailLength] = 0x0A
            tail = t
        }
        // Chunk c nominally covers [start + c * size, start + (c + 1) * size) and really starts
        // after the first '\n' at or after its nominal start minus one (chunk 0 at `start`),
        // and ends where chunk c + 1 starts. Each parse task finds its own boundaries, so no
        // page of a mapped file is touched before the task that parses it (touching every
        // boundary first maps most of the file at once when the page cache uses large folios).
        let size = chunkBytes(for: mainEnd - start)
        mainChunks = (mainEnd - start + size - 1) / size
        mainStart = start
        mainStop = mainEnd
        chunkSize = size
        ranges = [ByteRange](repeating: ByteRange(start: base + start, end: base + start), count: mainChunks)
        if let t = tail { ranges.append(ByteRange(start: t, end: t + (count - mainEnd) + 1)) }
    }

    let outputs = (0 ..< ranges.count).map { _ in ChunkOutput() }
    let lazyChunks = mainChunks, lazyStart = mainStart, lazyStop = mainStop, lazySize = chunkSize
    let mapping = input.base.map { ByteRange(start: UnsafePointer($0), end: UnsafePointer($0) + input.count) }
    try ParseTables.with { tables throws(MatrixMarketError) in
        // Only chunks inside the mapping: a copied tail (last line without '\n') is heap memory.
        let mappedChunks = input.mapped ? lazyChunks : 0
        ranges.withUnsafeMutableBufferPointer { rangeBuffer in
            let shared = SharedBuffer(rangeBuffer)
            Parallelism.forEachChunk(rangeBuffer.count) { c in
                if c < lazyChunks, let base = mapping?.start {
                    /// Where chunk k starts: `lazyStart`, or just after a newline.
                    func boundary(_ k: Int) -> Int {
                        if k == 0 { return lazyStart }
                        let nominal = lazyStart + k * lazySize
                        if nominal >= lazyStop { return lazyStop }
                        let found = memchr(base + nominal - 1, 0x0A, lazyStop - nominal + 1)!
                        return base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
                    }
                    shared.buffer[c] = ByteRange(start: base + boundary(c), end: base + max(boundary(c), boundary(c + 1)))
                }
                let range = shared.buffer[c]
                parseChunk(range, layout, tables, outputs[c], stopAtEntry: -1)
                // The text of a parsed chunk is not needed again (an error probe would fault it
                // back in from the file): drop its pages so that peak memory is the parsed
                // entries, not the text as well.
                if c < mappedChunks { dropMappedPages(range) }
            }
        }
        let chunkList = ranges
        // Resolve in file order: the first problem a sequential reader would meet.
        var entriesBefore = 0
        var linesBefore = 0
        for c in 0 ..< outputs.count {
            let o = outputs[c]
            if entriesBefore + o.count > expected {
                // Entry number `expected` (0-based) is an extra one: find its line.
                let probe = ChunkOutput()
                parseChunk(chunkList[c], layout, tables, probe, stopAtEntry: expected - entriesBefore)
                throw MatrixMarketError(path: path, line: dataLine + linesBefore + probe.stopLine,
                                        message: "too many \(kind): the size line declares \(expected), and this is number \(expected + 1)")
            }
            if o.errorLine >= 0 {
                throw MatrixMarketError(path: path, line: dataLine + linesBefore + o.errorLine, message: o.errorMessage)
            }
            entriesBefore += o.count
            linesBefore += o.lines
        }
        if entriesBefore < expected {
            let lastLine = info.sizeLine + linesBefore
            throw MatrixMarketError(path: path, line: lastLine, message: "truncated: expected \(expected) \(kind), found \(entriesBefore)")
        }
    }
    return ParsedData(chunks: outputs, entryCount: expected)
}

/// `madvise(MADV_DONTNEED)` on the whole pages inside a chunk of a mapped file.
func dropMappedPages(_ chunk: ByteRange) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard page > 0 else { return }
    let start = (Int(bitPattern: chunk.start) + page - 1) / page * page
    let end = Int(bitPattern: chunk.end) / page * page
    if end > start, let address = UnsafeMutableRawPointer(bitPattern: start) {
        _ = madvise(address, end - start, MADV_DONTNEED)
    }
}

/// Parses one chunk into `out`. With `stopAtEntry >= 0`, stops when reaching that entry
/// (0-based within the chunk) and records its line in `out.stopLine` instead.
func parseChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    if layout.format == .coordinate {
        parseCoordinateChunk(chunk, layout, tables, out, stopAtEntry: stopAtEntry)
    } else {
        parseArrayChunk(chunk, layout, tables, out, stopAtEntry: stopAtEntry)
    }
}

/// The message for a value token that did not scan as `.ok`.
/// Scans one value token of either data layout into `value`; returns the problem in words,
/// or nil when the token is acceptable (including non-finite values the options allow).
@inline(__always)
private func scanValue(_ p: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ tables: ParseTables, _ layout: DataLayout,
                       isInteger: Bool, into value: inout Double) -> String? {
    let valueStart = p
    var integerSyntax = true
    let scanned = scanReal(&p, end, tables, &value, &integerSyntax)
    if scanned != .ok { return valueProblem(scanned, tokenText(valueStart), layout) }
    if isInteger && !integerSyntax { return "the integer field holds a non-integer value '\(tokenText(valueStart))'" }
    return nil
}

private func valueProblem(_ scan: NumberScan, _ token: String, _ layout: DataLayout) -> String? {
    switch scan {
    case .ok: return nil
    case .invalid:
        if layout.field == .integer { return "invalid integer '\(token)'" }
        return "invalid number '\(token)' (expected a decimal like -1.5e+02)"
    case .nonFinite:
        if layout.allowNonFinite { return nil }
        return "non-finite value '\(token)' is not allowed (allowNonFinite accepts NaN and Inf)"
    case .overflow:
        if layout.allowNonFinite { return nil }
        return "value '\(token)' overflows a double (largest finite is 1.7976931348623157e+308)"
    }
}

private func indexProblem(_ which: String, _ token: String, _ limit: Int) -> String {
    let plural = which == "row" ? "rows" : "columns"
    if limit == 0 { return "\(which) index \(token) is out of range: the matrix has 0 \(plural)" }
    return "\(which) index \(token) is out of range 1...\(limit)"
}

private func parseCoordinateChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    var p = chunk.start
    let end = chunk.end
    var line = 0
    var n = 0
    let storeValues = layout.field != .pattern
    let store = stopAtEntry < 0
    let isInteger = layout.field == .integer
    let skew = layout.symmetry == .skewSymmetric
    let rowLimit = layout.rowCount, columnLimit = layout.columnCount
    var capacity = 0
    if store {
        capacity = max(64, (end - p) / (storeValues ? 24 : 12))
        guard out.grow(to: capacity, indices: true, values: storeValues) else {
            out.errorLine = 0
            out.errorMessage = "out of memory"
            return
        }
    }
    var rows = out.rows, columns = out.columns, values = out.values
    var failure: String?
    var previousKey = -1
    var sorted = true

    scan: while p < end {
        var c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A { p += 1; line += 1; continue }
        if c == UInt8(ascii: "%") {
            p = UnsafePointer(memchr(p, 0x0A, end - p)!.assumingMemoryBound(to: UInt8.self)) + 1
            line += 1
            continue
        }
        if n == stopAtEntry { out.stopLine = line; return }

        var row = 0, column = 0
        let rowStart = p
        guard scanIndex(&p, &row) else { failure = "invalid row index '\(tokenText(rowStart))'"; break scan }
        guard row >= 1 && row <= rowLimit else { failure = indexProblem("row", tokenText(rowStart), rowLimit); break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A { failure = "missing column index: a coordinate entry is 'row column\(storeValues ? " value" : "")'"; break scan }
        let columnStart = p
        guard scanIndex(&p, &column) else { failure = "invalid column index '\(tokenText(columnStart))'"; break scan }
        guard column >= 1 && column <= columnLimit else { failure = indexProblem("column", tokenText(columnStart), columnLimit); break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        var value = 1.0
        if storeValues {
            if c == 0x0A { failure = "missing value: a \(layout.field.rawValue) entry is 'row column value'"; break scan }
            if let problem = scanValue(&p, end, tables, layout, isInteger: isInteger, into: &value) { failure = problem; break scan }
            c = p.pointee
            while isBlank(c) { p += 1; c = p.pointee }
        }
        if c != 0x0A {
            failure = "unexpected text '\(restOfLine(p))' after the entry"
            break scan
        }
        if skew && row == column && value != 0 {
            failure = "a skew-symmetric matrix has a zero diagonal, but entry (\(row), \(column)) is \(value)"
            break scan
        }
        p += 1
        if store {
            if n == capacity {
                capacity *= 2
                guard out.grow(to: capacity, indices: true, values: storeValues) else { failure = "out of memory"; break scan }
                rows = out.rows; columns = out.columns; values = out.values
            }
            rows![n] = Int32(truncatingIfNeeded: row - 1)
            columns![n] = Int32(truncatingIfNeeded: column - 1)
            if storeValues { values![n] = value }
        }
        let key = (row - 1) << 32 | (column - 1)
        if key <= previousKey { sorted = false }
        if n == 0 { out.firstKey = key }
        previousKey = key
        n += 1
        line += 1
    }
    out.count = n
    out.lines = line
    out.sortedByRow = sorted
    out.lastKey = previousKey
    if let failure {
        out.errorLine = line
        out.errorMessage = failure
    }
}

private func parseArrayChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    var p = chunk.start
    let end = chunk.end
    var line = 0
    var n = 0
    let store = stopAtEntry < 0
    let isInteger = layout.field == .integer
    var capacity = 0
    if store {
        capacity = max(64, (end - p) / 12)
        guard out.grow(to: capacity, indices: false, values: true) else {
            out.errorLine = 0
            out.errorMessage = "out of memory"
            return
        }
    }
    var values = out.values
    var failure: String?

    scan: while p < end {
        var c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A { p += 1; line += 1; continue }
        if c == UInt8(ascii: "%") {
            p = UnsafePointer(memchr(p, 0x0A, end - p)!.assumingMemoryBound(to: UInt8.self)) + 1
            line += 1
            continue
        }
        if n == stopAtEntry { out.stopLine = line; return }
        var value = 0.0
        if let problem = scanValue(&p, end, tables, layout, isInteger: isInteger, into: &value) { failure = problem; break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c != 0x0A {
            failure = "unexpected text '\(restOfLine(p))' after the value (an array file has one value per line)"
            break scan
        }
        p += 1
        if store {
            if n == capacity {
                capacity *= 2
                guard out.grow(to: capacity, indices: false, values: true) else { failure = "out of memory"; break scan }
                values = out.values
            }
            values![n] = value
        }
        n += 1
        line += 1
    }
    out.count = n
    out.lines = line
    if let failure {
        out.errorLine = line
        out.errorMessage = failure
    }
}
