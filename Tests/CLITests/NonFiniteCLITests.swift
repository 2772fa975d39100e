// Overflow through the command line: exit 1, the message starts with the file of
// the input entry responsible and names the entry, no x file (the message hygiene found
// with it is in MessageHygieneCLITests). docs/reliability.md.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

@Suite("Non-finite arithmetic through the CLI", .serialized)
struct NonFiniteCLITests {
    /// A 30 x 4 exp problem (A in [0.1, 1), b uniform) in a fresh directory; `huge` goes to
    /// row 18, column 3 of A, `b5` to entry 5 of b, `w9` (if any) to entry 9 of a weights file.
    func files(huge: Double? = nil, b5: Double? = nil) throws -> (dir: URL, a: String, b: String) {
        let dir = try TestPaths.makeTemporaryDirectory()
        var columnMajor = (0..<120).map { k in 0.1 + 0.9 * Double((k * 37) % 101) / 101 }
        if let h = huge { columnMajor[2 * 30 + 17] = h }
        var b = [Double](repeating: 1.0 / 30, count: 30)
        if let v = b5 { b[4] = v }
        let a = dir.appendingPathComponent("A.mtx").path, bp = dir.appendingPathComponent("b.mtx").path
        try MatrixMarket.writeArray(columnMajor, rowCount: 30, columnCount: 4, to: a)
        try MatrixMarket.writeArray(b, rowCount: 30, columnCount: 1, to: bp)
        return (dir, a, bp)
    }

    func readReport(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test(arguments: ["zero", "random"], ["exact", "sketch", "paper", "auto"])
    func hugeEntryOfAIsNonFiniteNotConverged(start: String, hessian: String) throws {
        let (dir, a, b) = try files(huge: 1e155)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", a, b, "--start", start, "--hessian", hessian, "--output", x, "--report", report])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("Error: \(a): non_finite: overflow at the start point: A row 18, column 3 holds 1.0e155"), "\(r.stderr)")
        #expect(!r.stderr.contains("nan"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
        let json = try readReport(report)
        #expect(json["status"] as? String == "non_finite")
        #expect(json["success"] as? Bool == false, "a run that exits 1 is no success")
        let cause = try #require(json["non_finite_cause"] as? [String: Any])
        #expect(cause["input"] as? String == "A" && cause["row"] as? Int == 18 && cause["column"] as? Int == 3)
    }

    @Test func hugeEntryOfAWithTheDefaultStartNamesAsFile() throws {
        let (dir, a, b) = try files(huge: 1e308)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.mtx").path
        let r = try hyperreg(["solve", a, b, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(a): overflow: log-fit start: A row 18, column 3 holds 1.0e308"), "\(r.stderr)")
        #expect(!r.stderr.contains("CHOLMOD"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func hugeTargetNamesBsFileNotAs() throws {
        let (dir, a, b) = try files(b5: 1e300)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.mtx").path
        let r = try hyperreg(["solve", a, b, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(b): b entry 5 is 1.0e300: ||b||^2 overflows"), "\(r.stderr)")
        #expect(!r.stderr.contains("Scale A or x0 down"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func targetTimesSumOfUOverflowingNamesBsFile() throws {
        // ||b||^2 = 1e300 passes the input check; <u,1> b_5 at x0 = (3, 3, 3, 3) does not.
        let (dir, a, b) = try files(b5: 1e150)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x0 = dir.appendingPathComponent("x0.mtx").path, x = dir.appendingPathComponent("x.mtx").path
        try MatrixMarket.writeArray([3, 3, 3, 3], rowCount: 4, columnCount: 1, to: x0)
        let r = try hyperreg(["solve", a, b, "--x0", x0, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(b): non_finite: overflow at the start point: b entry 5 is 1.0e150"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func hugeWeightNamesWsFile() throws {
        let (dir, a, b) = try files()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = [Double](repeating: 1, count: 30)
        w[8] = 1e300
        let wp = dir.appendingPathComponent("w.mtx").path, x = dir.appendingPathComponent("x.mtx").path
        try MatrixMarket.writeArray(w, rowCount: 30, columnCount: 1, to: wp)
        let r = try hyperreg(["solve", a, b, "--weights", wp, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(wp): w entry 9 is 1.0e300"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
        let rw = try hyperreg(["solve", a, b, "--weight", "1e200", "--output", x])
        #expect(rw.status == 1)
        #expect(rw.stderr.contains("Error: --weight 1e+200: w entry 1 is 1.0e200"), "\(rw.stderr)")
    }

    @Test func hugeStartEntryNamesX0sFile() throws {
        let (dir, a, b) = try files()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x0 = dir.appendingPathComponent("x0.mtx").path, x = dir.appendingPathComponent("x.mtx").path
        try MatrixMarket.writeArray([0.1, 1e300, 0.1, 0.1], rowCount: 4, columnCount: 1, to: x0)
        let r = try hyperreg(["solve", a, b, "--x0", x0, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(x0): non_finite: overflow at the start point: x0 entry 2 is 1.0e300"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func diagnoseNamesTheEntryOfA() throws {
        let (dir, a, b) = try files(huge: 1e155)
        defer { try? FileManager.default.removeItem(at: dir) }
        let xp = dir.appendingPathComponent("x.mtx").path
        try MatrixMarket.writeArray([0, 0, 0, 0], rowCount: 4, columnCount: 1, to: xp)
        let r = try hyperreg(["diagnose", a, b, "--x", xp])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Error: \(a): overflow at x: A row 18, column 3 holds 1.0e155"), "\(r.stderr)")
    }
}
