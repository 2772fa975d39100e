// Malformed inputs: each must throw an error naming the file, the right line and the problem.

import Foundation
import MatrixMarket
import SparseCore
import Testing

/// One broken file: its text, the expected 1-based line (nil: no line), and a fragment
/// the message must contain.
struct BrokenFile: Sendable, CustomTestStringConvertible {
    let name: String
    let text: String
    let line: Int?
    let fragment: String
    var testDescription: String { name }
}

private let coordinateBanner = "%%MatrixMarket matrix coordinate real general\n"
private let arrayBanner = "%%MatrixMarket matrix array real general\n"

let brokenFiles: [BrokenFile] = [
    BrokenFile(name: "empty file", text: "", line: 1, fragment: "empty file"),
    BrokenFile(name: "no banner", text: "3 3 1\n1 1 1\n", line: 1, fragment: "missing banner"),
    BrokenFile(name: "byte-order mark", text: "\u{FEFF}%%MatrixMarket matrix coordinate real general\n1 1 0\n", line: 1, fragment: "byte-order mark"),
    BrokenFile(name: "missing fourth word", text: "%%MatrixMarket matrix coordinate real\n1 1 0\n", line: 1, fragment: "symmetry is missing"),
    BrokenFile(name: "fifth word", text: "%%MatrixMarket matrix coordinate real general extra\n1 1 0\n", line: 1, fragment: "fifth word"),
    BrokenFile(name: "glued banner", text: "%%MatrixMarketmatrix coordinate real general\n1 1 0\n", line: 1, fragment: "needs a blank"),
    BrokenFile(name: "vector object", text: "%%MatrixMarket vector coordinate real general\n1 1 0\n", line: 1, fragment: "object 'vector'"),
    BrokenFile(name: "unknown format", text: "%%MatrixMarket matrix sparse real general\n1 1 0\n", line: 1, fragment: "unknown format 'sparse'"),
    BrokenFile(name: "unknown field", text: "%%MatrixMarket matrix coordinate double general\n1 1 0\n", line: 1, fragment: "unknown field 'double'"),
    BrokenFile(name: "unknown symmetry", text: "%%MatrixMarket matrix coordinate real diagonal\n1 1 0\n", line: 1, fragment: "unknown symmetry"),
    BrokenFile(name: "pattern array", text: "%%MatrixMarket matrix array pattern general\n1 1\n", line: 1, fragment: "pattern field needs the coordinate format"),
    BrokenFile(name: "pattern skew", text: "%%MatrixMarket matrix coordinate pattern skew-symmetric\n2 2 0\n", line: 1, fragment: "cannot be skew-symmetric"),
    BrokenFile(name: "real hermitian", text: "%%MatrixMarket matrix coordinate real hermitian\n2 2 0\n", line: 1, fragment: "hermitian symmetry needs the complex field"),
    BrokenFile(name: "complex", text: "%%MatrixMarket matrix coordinate complex hermitian\n2 2 1\n1 1 1 0\n", line: 1, fragment: "complex matrices are not supported"),
    BrokenFile(name: "rectangular symmetric", text: "%%MatrixMarket matrix coordinate real symmetric\n% c\n3 4 0\n", line: 3, fragment: "must be square, but the size line says 3 x 4"),
    BrokenFile(name: "no size line", text: coordinateBanner + "% only a comment\n\n", line: 3, fragment: "ends before the size line"),
    BrokenFile(name: "short size line", text: coordinateBanner + "3 3\n", line: 2, fragment: "size line must be 'rows columns entries'"),
    BrokenFile(name: "negative size", text: coordinateBanner + "3 -3 1\n1 1 1\n", line: 2, fragment: "negative size '-3'"),
    BrokenFile(name: "size beyond 64 bits", text: coordinateBanner + "3 3 99999999999999999999\n", line: 2, fragment: "does not fit in 64 bits"),
    BrokenFile(name: "size not a number", text: arrayBanner + "3 3.0\n", line: 2, fragment: "size line must be 'rows columns'"),
    BrokenFile(name: "declared size beyond memory", text: coordinateBanner + "1000 1000 1000000000000000\n1 1 1\n", line: 2, fragment: "physical memory"),
    BrokenFile(name: "truncated", text: coordinateBanner + "3 3 3\n1 1 1\n2 2 2\n", line: 4, fragment: "truncated: expected 3 entries, found 2"),
    BrokenFile(name: "truncated, blank lines after", text: coordinateBanner + "3 3 3\n1 1 1\n\n\n", line: 5, fragment: "truncated: expected 3 entries, found 1"),
    BrokenFile(name: "extra entry", text: coordinateBanner + "2 2 1\n1 1 1\n\n2 2 2\n", line: 5, fragment: "too many entries"),
    BrokenFile(name: "0-based row", text: coordinateBanner + "3 3 2\n1 1 1\n0 1 1.0\n", line: 4, fragment: "row index 0 is out of range 1...3"),
    BrokenFile(name: "column beyond size", text: coordinateBanner + "3 3 1\n1 4 1.0\n", line: 3, fragment: "column index 4 is out of range 1...3"),
    BrokenFile(name: "negative index", text: coordinateBanner + "3 3 1\n-1 2 1.0\n", line: 3, fragment: "row index -1 is out of range"),
    BrokenFile(name: "Fortran exponent", text: coordinateBanner + "3 3 1\n1 1 1.5D+02\n", line: 3, fragment: "invalid number '1.5D+02'"),
    BrokenFile(name: "decimal comma", text: coordinateBanner + "3 3 1\n1 1 1,5\n", line: 3, fragment: "invalid number '1,5'"),
    BrokenFile(name: "hexadecimal", text: coordinateBanner + "3 3 1\n1 1 0x10\n", line: 3, fragment: "invalid number '0x10'"),
    BrokenFile(name: "half-numeric", text: coordinateBanner + "3 3 1\n1 1 12abc\n", line: 3, fragment: "invalid number '12abc'"),
    BrokenFile(name: "bare exponent", text: coordinateBanner + "3 3 1\n1 1 1e\n", line: 3, fragment: "invalid number '1e'"),
    BrokenFile(name: "lone dot", text: coordinateBanner + "3 3 1\n1 1 .\n", line: 3, fragment: "invalid number '.'"),
    BrokenFile(name: "real index", text: coordinateBanner + "3 3 1\n1.0 1 1\n", line: 3, fragment: "invalid row index '1.0'"),
    BrokenFile(name: "trailing garbage", text: coordinateBanner + "3 3 1\n1 1 1 junk\n", line: 3, fragment: "unexpected text 'junk' after the entry"),
    BrokenFile(name: "missing value", text: coordinateBanner + "3 3 1\n1 1\n", line: 3, fragment: "missing value"),
    BrokenFile(name: "missing column", text: coordinateBanner + "3 3 1\n1\n", line: 3, fragment: "missing column index"),
    BrokenFile(name: "NaN", text: coordinateBanner + "3 3 1\n1 1 NaN\n", line: 3, fragment: "non-finite value 'NaN'"),
    BrokenFile(name: "Inf", text: arrayBanner + "1 1\n-inf\n", line: 3, fragment: "non-finite value '-inf'"),
    BrokenFile(name: "overflow", text: coordinateBanner + "3 3 1\n1 1 1e400\n", line: 3, fragment: "'1e400' overflows a double"),
    BrokenFile(name: "integer field with a fraction", text: "%%MatrixMarket matrix coordinate integer general\n3 3 1\n1 1 1.5\n", line: 3, fragment: "non-integer value '1.5'"),
    BrokenFile(name: "integer field with an exponent", text: "%%MatrixMarket matrix array integer general\n1 1\n1e3\n", line: 3, fragment: "non-integer value '1e3'"),
    BrokenFile(name: "pattern with a value", text: "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1 1\n", line: 3, fragment: "unexpected text '1'"),
    BrokenFile(name: "skew diagonal", text: "%%MatrixMarket matrix coordinate real skew-symmetric\n2 2 1\n1 1 3\n", line: 3, fragment: "zero diagonal"),
    BrokenFile(name: "array truncated", text: arrayBanner + "2 2\n1\n2\n3\n", line: 5, fragment: "truncated: expected 4 values, found 3"),
    BrokenFile(name: "array extra value", text: arrayBanner + "1 2\n1\n2\n% comment\n3\n", line: 6, fragment: "too many values"),
    BrokenFile(name: "array two values on a line", text: arrayBanner + "2 1\n1 2\n", line: 3, fragment: "one value per line"),
    BrokenFile(name: "error after CRLF lines", text: "%%MatrixMarket matrix coordinate real general\r\n\r\n2 2 2\r\n1 1 1\r\n\r\n2 2 x\r\n", line: 6, fragment: "invalid number 'x'"),
    BrokenFile(name: "error on an unterminated last line", text: coordinateBanner + "2 2 2\n1 1 1\n2 2 2.5.1", line: 4, fragment: "invalid number '2.5.1'"),
]

@Suite("Malformed files")
struct MalformedTests {
    @Test("each broken file throws with the right line", arguments: brokenFiles)
    func brokenFileThrows(_ file: BrokenFile) throws {
        let s = try Scratch()
        let path = try s.write("broken.mtx", file.text)
        let error = caught { try MatrixMarket.readMatrix(from: path) }
        #expect(error != nil, "no error for \(file.name)")
        guard let error else { return }
        #expect(error.path == path)
        #expect(error.line == file.line, "\(error)")
        #expect(error.message.contains(file.fragment), "\(error)")
        let expectedPrefix = file.line.map { "\(path):\($0): " } ?? "\(path): "
        #expect(error.description.hasPrefix(expectedPrefix))
    }

    @Test func truncatedGzipIsAnErrorNotAShortMatrix() throws {
        let s = try Scratch()
        var text = coordinateBanner + "300 300 3000\n"
        var generator = SplitMix(seed: 7)
        for _ in 0 ..< 3000 { text += "\(Int.random(in: 1 ... 300, using: &generator)) \(Int.random(in: 1 ... 300, using: &generator)) \(Double.random(in: -1 ... 1, using: &generator))\n" }
        let packed = try gzipped(Array(text.utf8))
        let whole = try s.write("whole.mtx.gz", packed)
        #expect(try MatrixMarket.readMatrix(from: whole).header.storedEntryCount == 3000)
        for cut in [4, 8, packed.count / 2] {
            let path = try s.write("cut\(cut).mtx.gz", Array(packed.dropLast(cut)))
            let error = caught { try MatrixMarket.readMatrix(from: path) }
            #expect(error?.path == path)
            #expect(error?.line == nil)
            #expect(error?.message.contains("truncated gzip stream") == true, "\(String(describing: error))")
        }
        // A corrupted byte in the middle of the stream is also an error.
        var corrupt = packed
        corrupt[corrupt.count / 2] ^= 0xFF
        let path = try s.write("corrupt.mtx.gz", corrupt)
        #expect(caught { try MatrixMarket.readMatrix(from: path) } != nil)
    }

    @Test func unreadablePaths() throws {
        let s = try Scratch()
        let missing = s.path("missing.mtx")
        let error = caught { try MatrixMarket.readMatrix(from: missing) }
        #expect(error?.description == "\(missing): cannot open: No such file or directory")
        #expect(caught { try MatrixMarket.readHeader(from: s.url.path) }?.message.contains("is a directory") == true)
    }

    @Test func vectorOfTheWrongShapeNamesTheShape() throws {
        let s = try Scratch()
        let path = try s.write("m.mtx", "%%MatrixMarket matrix coordinate real general\n%\n3 4 0\n")
        let error = caught { try MatrixMarket.readVector(from: path) }
        #expect(error?.line == 3)
        #expect(error?.message.contains("found a 3 x 4 matrix") == true)
    }

    @Test func headerOnlyErrors() throws {
        let s = try Scratch()
        let path = try s.write("h.mtx", "%%MatrixMarket matrix coordinate pattern hermitian\n2 2 0\n")
        #expect(caught { try MatrixMarket.readHeader(from: path) }?.line == 1)
        let gz = try s.write("h.mtx.gz", try gzipped(Array("%%MatrixMarket matrix coordinate real general\n% no size line\n".utf8)))
        #expect(caught { try MatrixMarket.readHeader(from: gz) }?.line == 2)
    }

    @Test func inMemoryReadMatchesTheFileAndNamesTheGivenName() throws {
        let s = try Scratch()
        let text = coordinateBanner + "3 2 3\n1 1 1.5\n3 2 -2\n1 1 0.5\n"
        let fromFile = try MatrixMarket.readMatrix(from: try s.write("m.mtx", text))
        let fromBytes = try Array(text.utf8).withUnsafeBytes { try MatrixMarket.readMatrix(bytes: $0, name: "upload") }
        #expect(fromBytes.matrix == fromFile.matrix)
        #expect(fromBytes.header == fromFile.header)
        let broken = Array((coordinateBanner + "3 1 1\n1 1 1,5\n").utf8)
        let error = caught { try broken.withUnsafeBytes { try MatrixMarket.readVector(bytes: $0, name: "upload") } }
        #expect(error?.description.hasPrefix("upload:3: invalid number '1,5'") == true, "\(String(describing: error))")
        #expect(caught { try [UInt8]().withUnsafeBytes { try MatrixMarket.readMatrix(bytes: $0, name: "nothing") } }?.message.contains("empty file") == true)
    }

    @Test func memoryLimitRefusesADeclaredSizeBeforeReading() throws {
        // 1000 entries of a coordinate matrix need about 28 kB plus 16 bytes per row: over a
        // 10 kB limit, under the default (physical memory), so only the limit can refuse it.
        var text = coordinateBanner + "1000 1 1000\n"
        for i in 1 ... 1000 { text += "\(i) 1 1\n" }
        let bytes = Array(text.utf8)
        let limited = MatrixMarketReadOptions(memoryLimit: 10_000)
        let error = caught { try bytes.withUnsafeBytes { try MatrixMarket.readMatrix(bytes: $0, name: "m", options: limited) } }
        #expect(error?.line == 2)
        #expect(error?.message.contains("more than the memory limit of 10.0 kB") == true, "\(String(describing: error))")
        #expect(try bytes.withUnsafeBytes { try MatrixMarket.readMatrix(bytes: $0, name: "m") }.matrix.nonzeroCount == 1000)
        // A vector's dense result counts too: 10^8 entries declared with none stored.
        let empty = Array((coordinateBanner + "1 100000000 0\n").utf8)
        let vectorError = caught { try empty.withUnsafeBytes { try MatrixMarket.readVector(bytes: $0, name: "v", options: limited) } }
        #expect(vectorError?.message.contains("memory limit") == true, "\(String(describing: vectorError))")
    }

    @Test func controlBytesInAMessageAreEscaped() throws {
        let s = try Scratch()
        let path = try s.write("esc.mtx", Array((coordinateBanner + "3 1 1\n1 1 1\u{1}\u{1B}[2J\n").utf8))
        let error = caught { try MatrixMarket.readMatrix(from: path) }
        #expect(error?.message.contains("'1\\x01\\x1B[2J'") == true, "\(String(describing: error))")
        #expect(MatrixMarketError(path: "p", message: "a\tb\nc").message == "a\\x09b\\x0Ac")
    }
}
