// Numerical faults through the command line: exit status, the report's status, messages on
// stderr, and no x file when there is no usable answer (docs/reliability.md).

import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

@Suite("Numerical faults through the CLI", .serialized)
struct FaultCLITests {
    /// A generated exp problem (n = 2000, d = 20) in a fresh directory.
    func problem() throws -> (dir: URL, a: String, b: String) {
        let dir = try TestPaths.makeTemporaryDirectory()
        try generateProblem(dir)
        return (dir, dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path)
    }

    func readReport(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test func overflowAtTheStartIsNonFiniteNamesX0AndWritesNoX() throws {
        let (dir, a, b) = try problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x0 = dir.appendingPathComponent("x0.mtx").path
        try MatrixMarket.writeArray([Double](repeating: 1000, count: 20), rowCount: 20, columnCount: 1, to: x0)
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", a, b, "--x0", x0, "--output", x, "--report", report])
        #expect(r.status == 1)
        // x0 (entries 1000, larger than A's) is blamed: the message starts with its path.
        #expect(r.stderr.contains("\(x0): non_finite: overflow at the start point"), "\(r.stderr)")
        #expect(r.stderr.contains("Scale A or x0 down"))
        #expect(!FileManager.default.fileExists(atPath: x))
        // Like the other failing statuses, non_finite still writes the report (docs/cli.md).
        #expect(try readReport(report)["status"] as? String == "non_finite")
    }

    @Test func weightsAndStartOfTheWrongLengthNameTheFile() throws {
        let (dir, a, b) = try problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = dir.appendingPathComponent("w-short.mtx").path, x0 = dir.appendingPathComponent("x0-long.mtx").path
        try MatrixMarket.writeArray([Double](repeating: 1, count: 1999), rowCount: 1999, columnCount: 1, to: w)
        try MatrixMarket.writeArray([Double](repeating: 0, count: 21), rowCount: 21, columnCount: 1, to: x0)
        let x = dir.appendingPathComponent("x.mtx").path
        let rw = try hyperreg(["solve", a, b, "--weights", w, "--output", x])
        #expect(rw.status == 1)
        #expect(rw.stderr.contains("\(w): w has 1999 entries but \(a) has 2000 rows"), "\(rw.stderr)")
        let rx = try hyperreg(["solve", a, b, "--x0", x0, "--output", x])
        #expect(rx.status == 1)
        #expect(rx.stderr.contains("\(x0): x0 has 21 entries but \(a) has 20 columns"), "\(rx.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func iterationLimitExitsZeroWithItsStatus() throws {
        let (dir, a, b) = try problem()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        // From a random start one Newton iteration cannot reach 1e-10.
        let r = try hyperreg(["solve", a, b, "--start", "random", "--max-iterations", "1", "--quiet", "--output", x, "--report", report])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try readReport(report)
        #expect(json["status"] as? String == "iteration_limit")
        #expect(json["converged"] as? Bool == false)
        #expect(json["success"] as? Bool == true, "an iteration limit with a usable x is a success (exit 0)")
        #expect(json["iterations"] as? Int == 1)
        #expect(try MatrixMarket.readVector(from: x).allSatisfy(\.isFinite))
    }

    @Test func expWithoutWeightsCollapsingIsDegenerateNotConverged() throws {
        // A > 0 and w = 0: x -> -infinity drives u -> 0 and L -> 0 without a minimiser.
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = FixtureRandom(seed: 11)
        let n = 30, d = 2
        let columnMajor = (0 ..< n * d).map { _ in rng.uniform(0.1, 1) }
        let a = dir.appendingPathComponent("A.mtx").path, b = dir.appendingPathComponent("b.mtx").path
        let x0 = dir.appendingPathComponent("x0.mtx").path
        try MatrixMarket.writeArray(columnMajor, rowCount: n, columnCount: d, to: a)
        try MatrixMarket.writeArray((0 ..< n).map { _ in rng.uniform(0, 1) }, rowCount: n, columnCount: 1, to: b)
        try MatrixMarket.writeArray([0, 0], rowCount: d, columnCount: 1, to: x0)
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", a, b, "--weight", "0", "--x0", x0, "--quiet", "--output", x, "--report", report])
        #expect(r.status == 1)
        #expect(r.stderr.contains("degenerate"), "\(r.stderr)")
        #expect(try readReport(report)["status"] as? String == "degenerate")
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func sinhFromZeroIsTheTrivialStationaryPoint() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "sinh")
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--function", "sinh", "--start", "zero", "--quiet", "--output", x, "--report", report])
        #expect(r.status == 1)
        #expect(r.stderr.contains("trivial global minimiser of sinh"), "\(r.stderr)")
        #expect(try readReport(report)["status"] as? String == "stationary_start")
        #expect(!FileManager.default.fileExists(atPath: x))
    }
}
