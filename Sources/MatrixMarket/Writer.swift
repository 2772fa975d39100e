// Writers (array and coordinate, real general) and atomic file output.
//
// Values are written as the shortest decimal that reads back to the same double (Swift's
// `description`, itself shortest round-trip; integral values below 1e15 as plain integers),
// so `readMatrix`/`readVector` give back identical bits. Text is formatted in parallel
// chunks (a fixed split, so the bytes never depend on the thread count) and handed to
// `AtomicFile` as a list of buffers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SparseCore

/// Atomic whole-file output.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically: into a new temporary file in the same
    /// directory, `fsync`, then `rename` over `path` (and a best-effort `fsync` of the
    /// directory). On any failure the temporary file is removed and nothing at `path`
    /// changes. A new file gets mode 0666 minus the umask. `path == "-"` writes to
    /// standard output instead.
    ///
    /// - Throws: `MatrixMarketError` naming `path` (`<stdout>` for `-`) and the reason.
    public static func write(_ bytes: [UInt8], to path: String) throws(MatrixMarketError) {
        try write(chunks: [bytes], to: path)
    }

    /// Writes the concatenation of `chunks` atomically (see `write(_:to:)`).
    static func write(chunks: [[UInt8]], to path: String) throws(MatrixMarketError) {
        if path == "-" {
            for chunk in chunks {
                if let problem = writeAll(1, chunk) {
                    throw MatrixMarketError(path: "<stdout>", message: "write failed: \(problem)")
                }
            }
            return
        }
        func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: path, message: message) }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty, base != ".", base != ".." else { throw fail("not a file name") }
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0 ..< 100 {
            let tag = String(UInt64.random(in: 0 ... UInt64.max), radix: 36)
            temporary = (directory == "/" ? "/" : directory + "/") + ".\(base).tmp-\(getpid())-\(tag)"
            fd = posixOpen(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw fail("cannot create a temporary file in \(directory): \(errnoText())") }
        func abandon(_ message: String) -> MatrixMarketError {
            if fd >= 0 { close(fd) }
            unlink(temporary)
            return fail(message)
        }
        for chunk in chunks {
            if let problem = writeAll(fd, chunk) { throw abandon("write failed: \(problem)") }
        }
        if fsync(fd) != 0 { throw abandon("fsync failed: \(errnoText())") }
        let closed = close(fd)
        fd = -1
        if closed != 0 { throw abandon("close failed: \(errnoText())") }
        if rename(temporary, path) != 0 { throw abandon("cannot rename the temporary file over the destination: \(errnoText())") }
        let directoryFD = posixOpen(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Writes every byte to `fd`; returns the error text on failure.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, min(raw.count - offset, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errnoText()
                }
                if n == 0 { return "no progress writing" }
                offset += n
            }
            return nil
        }
    }
}

enum Writer {
    /// Banner, `%` comment lines, size line.
    static func header(_ banner: String, _ comments: [String], _ size: String) -> [UInt8] {
        var text = "%%MatrixMarket matrix \(banner)\n"
        for comment in comments {
            for line in comment.split(separator: "\n", omittingEmptySubsequences: false) {
                var line = Substring(line)
                if line.hasSuffix("\r") { line = line.dropLast() }
                text += "%\(line)\n"
            }
        }
        text += size + "\n"
        return Array(text.utf8)
    }

    static func writeArray(_ values: [Double], rowCount: Int, columnCount: Int, to path: String, comments: [String]) throws(MatrixMarketError) {
        let name = path == "-" ? "<stdout>" : path
        guard rowCount >= 0, columnCount >= 0 else {
            throw MatrixMarketError(path: name, message: "cannot write a \(rowCount) x \(columnCount) array: negative size")
        }
        let (expected, overflow) = rowCount.multipliedReportingOverflow(by: columnCount)
        guard !overflow, values.count == expected else {
            throw MatrixMarketError(path: name, message: "cannot write a \(rowCount) x \(columnCount) array from \(values.count) values")
        }
        var chunks = [header("array real general", comments, "\(rowCount) \(columnCount)")]
        let perChunk = 1 << 16
        let chunkCount = (values.count + perChunk - 1) / perChunk
        values.withUnsafeBufferPointer { buffer in
            let shared = SharedReadBuffer(buffer)
            chunks += Parallelism.mapChunks(chunkCount) { c -> [UInt8] in
                var out: [UInt8] = []
                let range = c * perChunk ..< min((c + 1) * perChunk, shared.buffer.count)
                out.reserveCapacity(range.count * 24)
                for k in range {
                    appendNumber(shared.buffer[k], &out)
                    out.append(0x0A)
                }
                return out
            }
        }
        try AtomicFile.write(chunks: chunks, to: path)
    }

    static func writeCoordinate(_ matrix: CSRMatrix, to path: String, comments: [String]) throws(MatrixMarketError) {
        var chunks = [header("coordinate real general", comments, "\(matrix.rowCount) \(matrix.columnCount) \(matrix.nonzeroCount)")]
        chunks += matrix.mapRowChunks(matrix.partition) { rows, p -> [UInt8] in
            var out: [UInt8] = []
            out.reserveCapacity((p.rowOffsets[rows.upperBound] - p.rowOffsets[rows.lowerBound]) * 36)
            for i in rows {
                for e in p.rowOffsets[i] ..< p.rowOffsets[i + 1] {
                    appendInteger(i + 1, &out)
                    out.append(0x20)
                    appendInteger(Int(p.columnIndices[e]) + 1, &out)
                    out.append(0x20)
                    appendNumber(p.values[e], &out)
                    out.append(0x0A)
                }
            }
            return out
        }
        try AtomicFile.write(chunks: chunks, to: path)
    }
}

/// Appends the decimal digits of `value`.
@inline(__always)
func appendInteger(_ value: Int, _ out: inout [UInt8]) {
    if value < 0 { out.append(UInt8(ascii: "-")) }
    var v = value.magnitude
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
        var n = 0
        repeat {
            digits[19 - n] = UInt8(truncatingIfNeeded: v % 10) + 0x30
            v /= 10
            n += 1
        } while v != 0
        out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 - n)...]))
    }
}

/// Appends the shortest decimal that reads back as `value` (`nan`, `inf`, `-inf` for
/// non-finite values).
@inline(__always)
func appendNumber(_ value: Double, _ out: inout [UInt8]) {
    if value.magnitude < 1e15 && value == value.rounded(.towardZero) {
        if value == 0 && value.sign == .minus { out.append(UInt8(ascii: "-")) }
        appendInteger(Int(value), &out)
        return
    }
    var text = value.description
    text.withUTF8 { out.append(contentsOf: $0) }
}
