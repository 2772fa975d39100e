// The readers: header only, whole matrix (CSR), vector.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SparseCore

enum Reader {
    /// What the caller will build from the data.
    enum Purpose { case matrix, vector }

    static func readHeader(path: String) throws(MatrixMarketError) -> MatrixMarketHeader {
        try readHeaderInfo(path: path).header
    }

    /// The header and where it ends, reading no further than the size line.
    static func readHeaderInfo(path: String) throws(MatrixMarketError) -> HeaderInfo {
        let name = displayName(path)
        switch try InputSource.open(path) {
        case .bytes(let bytes):
            guard case .complete(let info) = try parseHeader(bytes.buffer, isComplete: true, path: name) else {
                throw MatrixMarketError(path: name, message: "internal error: incomplete header")
            }
            return info
        case .stream(let stream):
            var bytes = GrowableBytes()
            defer { bytes.discard() }
            return try readStreamHeader(stream, into: &bytes, name: name)
        }
    }

    /// The header, after the checks the data readers make before reading any data.
    static func checkHeader(path: String, purpose: Purpose, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> MatrixMarketHeader {
        let info = try readHeaderInfo(path: path)
        _ = try check(info, name: displayName(path), options: options, purpose: purpose)
        return info.header
    }

    /// Reads a stream until its header is complete (64 KiB at first, then as much again as
    /// has been read, so a long comment block is parsed in linear time). `bytes` keeps what
    /// was read, the data section's first bytes included (from `dataOffset`). The header
    /// parser stops at a NUL byte or a too-long line, so a binary stream is rejected after at
    /// most about `maximumLineLength` bytes of its first line.
    static func readStreamHeader(_ stream: ZStream, into bytes: inout GrowableBytes, name: String) throws(MatrixMarketError) -> HeaderInfo {
        var done = false
        while true {
            if !done { done = try stream.read(into: &bytes, limit: max(1 << 16, bytes.count)) == 0 }
            let view = UnsafeBufferPointer(start: bytes.base, count: bytes.count)
            if case .complete(let info) = try parseHeader(view, isComplete: done, path: name) { return info }
        }
    }

    static func readMatrix(path: String, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> (header: MatrixMarketHeader, matrix: CSRMatrix) {
        let (info, data) = try load(source: InputSource.open(path), name: displayName(path), options: options, purpose: .matrix)
        return (info.header, assembleMatrix(data, info.header))
    }

    static func readMatrix(input: InputBytes, name: String, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> (header: MatrixMarketHeader, matrix: CSRMatrix) {
        let (info, data) = try load(source: .bytes(input), name: name, options: options, purpose: .matrix)
        return (info.header, assembleMatrix(data, info.header))
    }

    static func assembleMatrix(_ data: ParsedData, _ h: MatrixMarketHeader) -> CSRMatrix {
        h.format == .coordinate ? assembleCoordinate(data, h) : assembleArray(data, h)
    }

    static func readVector(path: String, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> [Double] {
        let (info, data) = try load(source: InputSource.open(path), name: displayName(path), options: options, purpose: .vector)
        return assembleVector(data, info.header)
    }

    static func readVector(input: InputBytes, name: String, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> [Double] {
        let (info, data) = try load(source: .bytes(input), name: name, options: options, purpose: .vector)
        return assembleVector(data, info.header)
    }

    static func assembleVector(_ data: ParsedData, _ h: MatrixMarketHeader) -> [Double] {
        let n = max(h.rowCount, h.columnCount)
        if h.rowCount == 0 || h.columnCount == 0 { return [] }
        if h.format == .array {
            // General n x 1 or 1 x n, or a 1 x 1 symmetric: the values in order.
            var result = [Double]()
            result.reserveCapacity(n)
            for case let chunk? in data.chunks where chunk.count > 0 {
                result.append(contentsOf: UnsafeBufferPointer(start: chunk.values, count: chunk.count))
            }
            // A 1 x 1 skew-symmetric array stores no value: its entry is 0.
            if result.count < n { result += [Double](repeating: 0, count: n - result.count) }
            return result
        }
        var result = [Double](repeating: 0, count: n)
        var seen = [Bool](repeating: false, count: n)
        let byColumn = h.rowCount == 1 && h.columnCount != 1
        for case let chunk? in data.chunks {
            for k in 0 ..< chunk.count {
                let i = Int(byColumn ? chunk.columns![k] : chunk.rows![k])
                let v = chunk.values.map { $0[k] } ?? 1
                // The first value is stored as is (keeps -0.0), later ones are added.
                result[i] = seen[i] ? result[i] + v : v
                seen[i] = true
            }
        }
        return result
    }

    /// Reads the header, checks what is supported, parses the data (a mapped file in
    /// parallel chunks, a stream window by window). The input is released on return (before
    /// the caller assembles its result).
    private static func load(source: InputSource, name: String, options: MatrixMarketReadOptions, purpose: Purpose) throws(MatrixMarketError) -> (HeaderInfo, ParsedData) {
        switch source {
        case .bytes(let input):
            guard case .complete(let info) = try parseHeader(input.buffer, isComplete: true, path: name) else {
                throw MatrixMarketError(path: name, message: "internal error: incomplete header")
            }
            let layout = try check(info, name: name, options: options, purpose: purpose)
            return (info, try parseDataSection(input, info, layout, path: name))
        case .stream(let stream):
            var bytes = GrowableBytes()
            defer { bytes.discard() }
            let info = try readStreamHeader(stream, into: &bytes, name: name)
            let layout = try check(info, name: name, options: options, purpose: purpose)
            let leftover = UnsafeBufferPointer(start: bytes.base.map { $0 + info.dataOffset }, count: bytes.count - info.dataOffset)
            return (info, try parseStreamedDataSection(stream, leftover: leftover, info, layout, windowBytes: options.streamWindowBytes, path: name))
        }
    }

    /// What is supported, and whether the declared storage fits: returns the data layout.
    /// With `ranks > 1` (a distributed read, where each rank holds about 1/ranks of the
    /// data), the memory check compares that share with this process's limit.
    static func check(_ info: HeaderInfo, name: String, options: MatrixMarketReadOptions, purpose: Purpose, ranks: Int = 1) throws(MatrixMarketError) -> DataLayout {
        let h = info.header
        if h.field == .complex {
            throw MatrixMarketError(path: name, line: 1, message: "complex matrices are not supported: the banner declares the complex field (only real, integer and pattern files can be read)")
        }
        func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: name, line: info.sizeLine, message: message) }
        switch purpose {
        case .vector:
            guard h.rowCount == 1 || h.columnCount == 1 else {
                throw fail("expected a vector (an n x 1 or 1 x n matrix), found a \(h.rowCount) x \(h.columnCount) matrix")
            }
            if h.format == .coordinate {
                try checkIndexLimits(h, fail)
            }
        case .matrix:
            try checkIndexLimits(h, fail)
        }
        // Fail fast, before allocating, when the declared storage cannot fit in physical
        // memory (or the caller's limit, or the address space left under `ulimit -v`): entries, plus the row offsets of a matrix or the
        // dense result (and its seen flags) of a vector.
        let perEntry = h.format == .coordinate ? 28 : 8
        let (entryBytes, o1) = h.storedEntryCount.multipliedReportingOverflow(by: perEntry)
        let (rowBytes, o2) = purpose == .matrix ? h.rowCount.multipliedReportingOverflow(by: 16)
                                                : max(h.rowCount, h.columnCount).multipliedReportingOverflow(by: 9)
        let (whole, o3) = entryBytes.addingReportingOverflow(rowBytes)
        let needed = ranks > 1 ? whole / ranks + 1 : whole
        let overflow = o1 || o2 || o3
        let physical = physicalMemoryBytes()
        var limit = physical > 0 ? physical : Int.max
        var limitName = "this machine's \(formatBytes(physical)) of physical memory"
        if let given = options.memoryLimit, given < limit {
            limit = max(given, 0)
            limitName = "the memory limit of \(formatBytes(limit))"
        }
        if let room = addressSpaceRoom(), room < limit {
            limit = room
            limitName = "the \(formatBytes(room)) of address space this process has left under its limit (ulimit -v)"
        }
        if overflow || needed > limit {
            let what = h.format == .coordinate ? "\(h.storedEntryCount) entries (about \(perEntry) bytes each)" : "\(h.storedEntryCount) values (8 bytes each)"
            var size = overflow ? "more than 2^63 bytes" : "about \(formatBytes(needed))"
            if ranks > 1 { size += " per rank over \(ranks) ranks" }
            throw fail("the size line declares \(what) for a \(h.rowCount) x \(h.columnCount) matrix, which needs \(size), more than \(limitName)")
        }
        let layout = DataLayout(format: h.format, field: h.field, symmetry: h.symmetry, rowCount: h.rowCount,
                                columnCount: h.columnCount, allowNonFinite: options.allowNonFinite)
        return layout
    }

    /// Coordinate indices are stored as Int32; CSR column indices are Int32.
    private static func checkIndexLimits(_ h: MatrixMarketHeader, _ fail: (String) -> MatrixMarketError) throws(MatrixMarketError) {
        let limit = Int(Int32.max)
        if h.columnCount > limit { throw fail("\(h.columnCount) columns: more than \(limit) columns is not supported") }
        if h.format == .coordinate && h.rowCount > limit { throw fail("\(h.rowCount) rows: more than \(limit) rows is not supported in coordinate files") }
    }

    /// Builds a CSR matrix of the nonzero values of an array file (column-major values;
    /// symmetric storage holds the lower triangle by columns, mirrored).
    static func assembleArray(_ data: ParsedData, _ h: MatrixMarketHeader) -> CSRMatrix {
        let m = h.rowCount, n = h.columnCount
        let mirror = h.symmetry != .general
        let negate = h.symmetry == .skewSymmetric
        /// Calls `body(row, column, value)` for each stored value in file order.
        func forEachValue(_ body: (Int, Int, Double) -> Void) {
            var i = 0, j = 0
            // First row of column j: general 0, symmetric j, skew j + 1.
            let firstRowOffset = h.symmetry == .general ? -1 : (h.symmetry == .skewSymmetric ? 1 : 0)
            func firstRow(_ j: Int) -> Int { firstRowOffset < 0 ? 0 : j + firstRowOffset }
            i = firstRow(0)
            for case let chunk? in data.chunks {
                guard let values = chunk.values else { continue }
                for k in 0 ..< chunk.count {
                    while i >= m { j += 1; i = firstRow(j) }
                    body(i, j, values[k])
                    i += 1
                }
            }
        }
        var offsets = [Int](repeating: 0, count: m + 1)
        forEachValue { i, j, v in
            guard v != 0 else { return }
            offsets[i + 1] += 1
            if mirror && i != j { offsets[j + 1] += 1 }
        }
        for i in 0 ..< m { offsets[i + 1] += offsets[i] }
        let total = offsets[m]
        var next = offsets
        var columnIndices = [Int32](repeating: 0, count: total)
        var values = [Double](repeating: 0, count: total)
        // Column-major traversal puts every row's columns in increasing order, mirrored
        // entries included (row r receives its mirrored entries while column r is read).
        forEachValue { i, j, v in
            guard v != 0 else { return }
            columnIndices[next[i]] = Int32(truncatingIfNeeded: j)
            values[next[i]] = v
            next[i] += 1
            if mirror && i != j {
                columnIndices[next[j]] = Int32(truncatingIfNeeded: i)
                values[next[j]] = negate ? -v : v
                next[j] += 1
            }
        }
        return CSRMatrix(uncheckedRowCount: m, columnCount: n, rowOffsets: offsets, columnIndices: columnIndices, values: values)
    }
}

/// Physical memory in bytes (`_SC_PHYS_PAGES * _SC_PAGESIZE`), or 0 if unknown.
func physicalMemoryBytes() -> Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, size > 0 else { return 0 }
    return pages.multipliedReportingOverflow(by: size).overflow ? Int.max : pages * size
}

/// The address space this process may still map under its `RLIMIT_AS` (`ulimit -v`): the
/// limit minus the current virtual size (`/proc/self/statm`, when readable); nil when there
/// is no limit.
func addressSpaceRoom() -> Int? {
    #if os(Linux)
    var limit = rlimit()
    // RLIM_INFINITY is all ones (it does not import: its C definition overflows).
    guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
    let cap = limit.rlim_cur > UInt(Int.max) ? Int.max : Int(limit.rlim_cur)
    var used = 0
    let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
        var text = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &text, 63)
        close(fd)
        if n > 0 {
            var pages = 0
            for byte in text.prefix(n) {
                guard byte >= 0x30 && byte <= 0x39 else { break }
                pages = pages * 10 + Int(byte - 0x30)
            }
            used = pages * max(Int(sysconf(Int32(_SC_PAGESIZE))), 1)
        }
    }
    return max(cap - used, 0)
    #else
    var limit = rlimit()
    guard getrlimit(RLIMIT_AS, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
    return limit.rlim_cur > UInt64(Int.max) ? nil : Int(limit.rlim_cur)
    #endif
}

/// `1234567` -> `1.2 MB` (decimal units).
package func formatBytes(_ bytes: Int) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    if unit == 0 { return "\(bytes) bytes" }
    let tenths = (value * 10).rounded() / 10
    return "\(tenths) \(units[unit])"
}
