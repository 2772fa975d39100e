// Messages found misleading or unsafe by trying hostile input: `--weight -1` read as a missing value,
// C1 control characters (U+0080-U+009F) echoed raw, and 1e-14 printed as "10.0e-15".

import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

@Suite("Message hygiene through the CLI", .serialized)
struct MessageHygieneCLITests {
    /// A 30 x 4 exp problem in a fresh directory.
    func files() throws -> (dir: URL, a: String, b: String) {
        let dir = try TestPaths.makeTemporaryDirectory()
        let columnMajor = (0..<120).map { k in 0.1 + 0.9 * Double((k * 37) % 101) / 101 }
        let a = dir.appendingPathComponent("A.mtx").path, b = dir.appendingPathComponent("b.mtx").path
        try MatrixMarket.writeArray(columnMajor, rowCount: 30, columnCount: 4, to: a)
        try MatrixMarket.writeArray([Double](repeating: 1.0 / 30, count: 30), rowCount: 30, columnCount: 1, to: b)
        return (dir, a, b)
    }

    @Test(arguments: [["--weight", "-1"], ["--weight=-1"]])
    func negativeWeightOptionIsAValueRejected(option: [String]) throws {
        let (dir, a, b) = try files()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try hyperreg(["solve", a, b] + option)
        #expect(r.status == 64)
        #expect(r.stderr.contains("--weight must be finite and >= 0, got -1"), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
    }

    @Test(arguments: [
        (["solve", "A", "b", "--tolerance", "-1"], "--tolerance must be"),
        (["solve", "A", "b", "--max-iterations", "-2"], "--max-iterations must be"),
        (["solve", "A", "b", "--threads", "-2"], "--threads must be"),
        (["solve", "A", "b", "--refine", "-1"], "--refine must be"),
        (["generate", "--rows", "10", "--cols", "2", "--density", "0.5", "--scale", "-1", "--output-dir", "/nonexistent"], "--scale must be finite and > 0"),
        (["generate", "--rows", "10", "--cols", "2", "--density", "0.5", "--noise", "-1", "--output-dir", "/nonexistent"], "--noise must be"),
        (["diagnose", "A", "b", "--x", "x", "--radius", "-3"], "--radius must be"),
    ])
    func everyNegativeNumberIsAValueRejectedByItsRule(arguments: [String], fragment: String) throws {
        let r = try hyperreg(arguments)
        #expect(r.status == 64)
        #expect(r.stderr.contains(fragment), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"), "\(r.stderr)")
    }

    @Test func c1ControlCharactersAreEscaped() throws {
        let (dir, a, b) = try files()
        defer { try? FileManager.default.removeItem(at: dir) }
        // U+009B (CSI as one C1 byte): in a file name that does not exist, and in a bad token.
        let missing = dir.appendingPathComponent("A\u{9B}2J.mtx").path
        let r = try hyperreg(["solve", missing, b])
        #expect(r.status == 1)
        #expect(r.stderr.contains("A\\x9B2J.mtx"), "\(r.stderr)")
        #expect(!r.stderr.unicodeScalars.contains { $0.value >= 0x80 && $0.value <= 0x9F }, "\(r.stderr)")
        let badB = dir.appendingPathComponent("b-c1.mtx").path
        try Data("%%MatrixMarket matrix array real general\n30 1\n0\u{9B}5\n".utf8).write(to: URL(fileURLWithPath: badB))
        let rb = try hyperreg(["solve", a, badB])
        #expect(rb.status == 1)
        #expect(rb.stderr.contains("0\\x9B5"), "\(rb.stderr)")
        #expect(!rb.stderr.unicodeScalars.contains { $0.value >= 0x80 && $0.value <= 0x9F }, "\(rb.stderr)")
    }

    @Test func toleranceIsPrintedAsTyped() throws {
        let (dir, a, b) = try files()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try hyperreg(["solve", a, b, "--start", "random", "--tolerance", "1e-14", "--max-iterations", "1"])
        #expect(r.stderr.contains("tolerance 1.0e-14"), "\(r.stderr)")
        #expect(!r.stderr.contains("10.0e-15"), "\(r.stderr)")
    }
}
