// The header: banner (line 1), comment and blank lines, size line.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed header and where the data section starts.
struct HeaderInfo {
    /// The header value.
    var header: MatrixMarketHeader
    /// Byte offset of the first byte after the size line.
    var dataOffset: Int
    /// 1-based line number of the size line (the data starts on the next line).
    var sizeLine: Int
}

/// Either a complete header or a request for more bytes (streamed input).
enum HeaderParse {
    case needMore
    case complete(HeaderInfo)
}

/// Splits `bytes[start ..< end]` at blanks (space, tab, CR) into token ranges.
private func tokens(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> [Range<Int>] {
    var result: [Range<Int>] = []
    var i = start
    while i < end {
        while i < end && isBlank(bytes[i]) { i += 1 }
        if i == end { break }
        let s = i
        while i < end && !isBlank(bytes[i]) { i += 1 }
        result.append(s ..< i)
    }
    return result
}

private func text(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, limit: Int = 60) -> String {
    let clipped = range.lowerBound ..< min(range.upperBound, range.lowerBound + limit)
    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[clipped]), as: UTF8.self)
    return clipped.count < range.count ? s + "..." : s
}

private func lowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
    var s = ""
    for i in range.prefix(40) {
        let b = bytes[i]
        s.unicodeScalars.append(Unicode.Scalar(b >= 0x41 && b <= 0x5A ? b + 0x20 : b))
    }
    return s
}

/// Parses a non-negative 64-bit decimal size token.
private func parseSize(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
    var i = range.lowerBound
    if i < range.upperBound && bytes[i] == UInt8(ascii: "+") { i += 1 }
    guard i < range.upperBound else { return nil }
    var v = 0
    while i < range.upperBound {
        let d = bytes[i] &- 0x30
        guard d <= 9 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(Int(d))
        guard !o1, !o2 else { return nil }
        v = a
        i += 1
    }
    return v
}

/// Parses the header from the start of `bytes`. When `isComplete` is false and the
/// bytes end before the size line, returns `.needMore`.
func parseHeader(_ bytes: UnsafeBufferPointer<UInt8>, isComplete: Bool, path: String) throws(MatrixMarketError) -> HeaderParse {
    func fail(_ line: Int, _ message: String) -> MatrixMarketError { MatrixMarketError(path: path, line: line, message: message) }
    let count = bytes.count
    let banner = "'%%MatrixMarket matrix <format> <field> <symmetry>'"
    if count == 0 {
        if isComplete { throw fail(1, "empty file: expected the banner \(banner)") }
        return .needMore
    }
    if count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
        throw fail(1, "the file starts with a UTF-8 byte-order mark; the banner \(banner) must be the first bytes")
    }
    var position = 0
    var lineNumber = 0
    /// The next line's byte range (without '\n') or nil when more bytes are needed / at end.
    /// A line holding a NUL byte, or longer than `maximumLineLength`, is an error as soon as
    /// the bytes show it (before the line is complete, for a stream).
    func nextLine() throws(MatrixMarketError) -> Range<Int>? {
        guard position < count, let base = bytes.baseAddress else { return nil }
        let start = UnsafePointer(base + position)
        let available = count - position
        if let problem = lineLimitProblem(start, available: available) {
            throw fail(lineNumber + 1, problem)
        }
        let newline = memchr(start, 0x0A, min(available, maximumLineLength + 1))
        let i = newline.map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? count
        if i == count && !isComplete { return nil }
        let line = position ..< i
        position = min(i + 1, count)
        lineNumber += 1
        return line
    }

    // Line 1: the banner.
    guard let first = try nextLine() else { return .needMore }
    let words = tokens(bytes, first.lowerBound, first.upperBound)
    let lead = words.first.map { lowercased(bytes, $0) } ?? ""
    guard lead == "%%matrixmarket" || lead == "%matrixmarket" else {
        if lead.hasPrefix("%%matrixmarket") || lead.hasPrefix("%matrixmarket") {
            throw fail(1, "banner needs a blank after %%MatrixMarket, found '\(text(bytes, words[0]))'")
        }
        let found = first.isEmpty ? "an empty line" : "'\(text(bytes, first, limit: 60))'"
        throw fail(1, "missing banner: line 1 must be \(banner), found \(found)")
    }
    let names = ["object", "format", "field", "symmetry"]
    if words.count < 5 {
        throw fail(1, "banner has \(words.count - 1) of its 4 words (object format field symmetry): the \(names[words.count - 1]) is missing")
    }
    if words.count > 5 {
        throw fail(1, "banner has an unexpected fifth word '\(text(bytes, words[5]))' after the symmetry")
    }
    let object = lowercased(bytes, words[1])
    guard object == "matrix" else {
        if object == "vector" { throw fail(1, "object 'vector' is not supported (only 'matrix'; a vector is an n x 1 matrix)") }
        throw fail(1, "unknown object '\(text(bytes, words[1]))' in the banner (expected 'matrix')")
    }
    guard let format = MatrixMarketFormat(rawValue: lowercased(bytes, words[2])) else {
        throw fail(1, "unknown format '\(text(bytes, words[2]))' in the banner (expected coordinate or array)")
    }
    guard let field = MatrixMarketField(rawValue: lowercased(bytes, words[3])) else {
        throw fail(1, "unknown field '\(text(bytes, words[3]))' in the banner (expected real, integer, complex or pattern)")
    }
    guard let symmetry = MatrixMarketSymmetry(rawValue: lowercased(bytes, words[4])) else {
        throw fail(1, "unknown symmetry '\(text(bytes, words[4]))' in the banner (expected general, symmetric, skew-symmetric or hermitian)")
    }
    if field == .pattern && format == .array {
        throw fail(1, "illegal combination: the pattern field needs the coordinate format, not array")
    }
    if symmetry == .hermitian && field != .complex {
        throw fail(1, "illegal combination: hermitian symmetry needs the complex field, not \(field.rawValue)")
    }
    if field == .pattern && symmetry == .skewSymmetric {
        throw fail(1, "illegal combination: a pattern matrix cannot be skew-symmetric")
    }

    // Comments and blank lines, then the size line.
    var comments: [String] = []
    while true {
        let lastComplete = lineNumber
        guard let line = try nextLine() else {
            if isComplete { throw fail(max(lastComplete, 1), "the file ends before the size line") }
            return .needMore
        }
        var i = line.lowerBound
        while i < line.upperBound && isBlank(bytes[i]) { i += 1 }
        if i == line.upperBound { continue }
        if bytes[i] == UInt8(ascii: "%") {
            var e = line.upperBound
            if e > i + 1 && bytes[e - 1] == 0x0D { e -= 1 }
            comments.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[(i + 1) ..< e]), as: UTF8.self))
            continue
        }
        // The size line.
        let sizeLine = lineNumber
        let fields = tokens(bytes, line.lowerBound, line.upperBound)
        let expected = format == .coordinate ? 3 : 2
        let shape = format == .coordinate ? "'rows columns entries'" : "'rows columns'"
        guard fields.count == expected else {
            throw fail(sizeLine, "size line must be \(shape) for a \(format.rawValue) file, found '\(text(bytes, line))'")
        }
        var sizes: [Int] = []
        for f in fields {
            if bytes[f.lowerBound] == UInt8(ascii: "-") {
                throw fail(sizeLine, "negative size '\(text(bytes, f))' on the size line")
            }
            guard let v = parseSize(bytes, f) else {
                let digitsOnly = f.allSatisfy { (bytes[$0] &- 0x30) <= 9 || bytes[$0] == UInt8(ascii: "+") }
                if digitsOnly { throw fail(sizeLine, "size '\(text(bytes, f))' on the size line does not fit in 64 bits") }
                throw fail(sizeLine, "size line must be \(shape) (non-negative integers), found '\(text(bytes, line))'")
            }
            sizes.append(v)
        }
        let rows = sizes[0], columns = sizes[1]
        if symmetry != .general && rows != columns {
            throw fail(sizeLine, "a \(symmetry.rawValue) matrix must be square, but the size line says \(rows) x \(columns)")
        }
        var stored: Int
        if format == .coordinate {
            stored = sizes[2]
        } else {
            switch symmetry {
            case .general:
                let (p, overflow) = rows.multipliedReportingOverflow(by: columns)
                if overflow { throw fail(sizeLine, "array size \(rows) x \(columns) has more values than fit in 64 bits") }
                stored = p
            case .symmetric, .hermitian:
                // n(n+1)/2: the lower triangle with the diagonal.
                let (p, overflow) = rows.multipliedReportingOverflow(by: rows == Int.max ? rows : rows + 1)
                if overflow || rows == Int.max { throw fail(sizeLine, "array size \(rows) x \(columns) has more values than fit in 64 bits") }
                stored = p / 2
            case .skewSymmetric:
                // n(n-1)/2: the strict lower triangle.
                let (p, overflow) = rows.multipliedReportingOverflow(by: max(rows - 1, 0))
                if overflow { throw fail(sizeLine, "array size \(rows) x \(columns) has more values than fit in 64 bits") }
                stored = p / 2
            }
        }
        let header = MatrixMarketHeader(format: format, field: field, symmetry: symmetry,
                                        rowCount: rows, columnCount: columns, storedEntryCount: stored, comments: comments)
        return .complete(HeaderInfo(header: header, dataOffset: position, sizeLine: sizeLine))
    }
}
