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

/// Atomic whole-file output (see `OutputTarget` for how each kind of path is treated).
public enum AtomicFile {
    /// Writes `bytes` to `path`: a regular file (or a new path, or a symbolic link's target)
    /// is replaced atomically through a temporary file in the same folder, synced then
    /// renamed (on any failure nothing at `path` changes and no temporary file remains); a
    /// character device or FIFO is written in place, never replaced; a folder, block device
    /// or socket is refused. A new file gets mode 0666 minus the umask. `path == "-"` writes
    /// to standard output.
    ///
    /// - Throws: `MatrixMarketError` naming `path` (`<stdout>` for `-`) and the reason.
    public static func write(_ bytes: [UInt8], to path: String) throws(MatrixMarketError) {
        try write(chunks: [bytes], to: path)
    }

    /// Writes the concatenation of `chunks` (see `write(_:to:)`).
    static func write(chunks: [[UInt8]], to path: String) throws(MatrixMarketError) {
        try OutputFiles.commit([(OutputTarget.resolve(path), chunks)])
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
        try AtomicFile.write(chunks: arrayText(values, rowCount: rowCount, columnCount: columnCount, name: path == "-" ? "<stdout>" : path, comments: comments), to: path)
    }

    /// The text of an array file, in chunks; errors name `name`.
    static func arrayText(_ values: [Double], rowCount: Int, columnCount: Int, name: String, comments: [String]) throws(MatrixMarketError) -> [[UInt8]] {
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
        return chunks
    }

    static func writeCoordinate(_ matrix: CSRMatrix, to path: String, comments: [String]) throws(MatrixMarketError) {
        try AtomicFile.write(chunks: coordinateText(matrix, comments: comments), to: path)
    }

    /// The text of a coordinate file, in chunks.
    static func coordinateText(_ matrix: CSRMatrix, comments: [String]) -> [[UInt8]] {
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
        return chunks
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
