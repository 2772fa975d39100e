import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

@Suite("hyperreg solve --hessian and --reference", .serialized)
struct SketchCLITests {
    private func solve(_ dir: URL, _ extra: [String]) throws -> (CLIRun, [String: Any]?) {
        let report = dir.appendingPathComponent("r-\(UUID().uuidString).json")
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--weights", dir.appendingPathComponent("w.mtx").path, "--report", report.path, "--quiet"] + extra)
        let json = (try? Data(contentsOf: report)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        return (r, json)
    }

    @Test func sketchWritesItsKeysAndMatchesExact() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 20000 x 10: the sample keeps well under half the rows.
        try generateProblem(dir, rows: 20000, cols: 10, weight: "0.1", seed: 4)
        let xExact = dir.appendingPathComponent("x-exact.mtx").path
        let (e, _) = try solve(dir, ["--hessian", "exact", "--output", xExact])
        #expect(e.status == 0, "\(e.stderr)")
        let (s, report) = try solve(dir, ["--hessian", "sketch", "--reference", xExact, "--refine", "1"])
        #expect(s.status == 0, "\(s.stderr)")
        let r = try #require(report)
        #expect(r["hessian"] as? String == "sketch")
        #expect(r["status"] as? String == "converged")
        #expect((r["pass_seconds"] as? Double).map { $0 > 0 } == true)
        #expect(r["reference_source"] as? String == "given")
        let sketch = try #require(r["sketch"] as? [String: Any])
        #expect(sketch["epsilon"] as? Double == 0.5)
        #expect((sketch["oversampling"] as? Double).map { $0 > 1 } == true)
        let trace = try #require(r["trace"] as? [[String: Any]])
        let rows = trace.dropFirst()
        #expect(!rows.isEmpty)
        for row in rows {
            #expect((row["rows_kept"] as? Int).map { $0 > 0 && $0 < 10000 } == true)
            #expect(row["times"] is [String: Any])
            #expect(row["iteration_passes"] is Double)
            #expect(row["reference_distance"] is Double)
        }
        // Same x as exact: the last distance to it is tiny (relative gradient 1e-10).
        let last = try #require(rows.last?["reference_distance"] as? Double)
        let xRef = try MatrixMarket.readVector(from: xExact)
        #expect(last <= 1e-8 * max(1, xRef.map { $0 * $0 }.reduce(0, +).squareRoot()))
    }

    @Test func paperReportsAViolatedAssumptionAndWritesNoX() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "cosh", rows: 2000, cols: 10, weight: "0.01", seed: 5)
        let x = dir.appendingPathComponent("x.mtx")
        let (r, report) = try solve(dir, ["--function", "cosh", "--hessian", "paper", "--output", x.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("assumption_violated") && r.stderr.contains("D_ii <= 0"))
        #expect(!FileManager.default.fileExists(atPath: x.path))
        #expect(report?["status"] as? String == "assumption_violated")
    }

    @Test func badStrategyAndReferenceAreRejected() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 200, cols: 5, seed: 6)
        let (r1, _) = try solve(dir, ["--hessian", "fast"])
        #expect(r1.status == 64)
        let (r2, _) = try solve(dir, ["--epsilon", "1.5"])
        #expect(r2.status == 64 && r2.stderr.contains("--epsilon"))
        // A reference with the wrong length names the file.
        let wrong = dir.appendingPathComponent("wrong.mtx")
        try MatrixMarket.writeArray([1, 2, 3], rowCount: 3, columnCount: 1, to: wrong.path)
        let (r3, _) = try solve(dir, ["--reference", wrong.path])
        #expect(r3.status == 1 && r3.stderr.contains("wrong.mtx") && r3.stderr.contains("reference"))
    }
}

@Suite("hyperreg solve --hessian pcg", .serialized)
struct PCGCLITests {
    /// The option value is accepted, the run converges to exact's x, and every trace row after
    /// the start has the new keys `cg_iterations` and `preconditioner_age` (and `cg_stop`).
    @Test func pcgWritesItsKeysAndMatchesExact() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 20000, cols: 10, weight: "0.1", seed: 4)
        func solve(_ extra: [String]) throws -> (CLIRun, [String: Any]?) {
            let report = dir.appendingPathComponent("r-\(UUID().uuidString).json")
            let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                                  "--weights", dir.appendingPathComponent("w.mtx").path, "--report", report.path, "--quiet"] + extra)
            let json = (try? Data(contentsOf: report)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            return (r, json)
        }
        let xExact = dir.appendingPathComponent("x-exact.mtx").path
        let (e, _) = try solve(["--hessian", "exact", "--output", xExact])
        #expect(e.status == 0, "\(e.stderr)")
        let (s, report) = try solve(["--hessian", "pcg", "--reference", xExact])
        #expect(s.status == 0, "\(s.stderr)")
        let r = try #require(report)
        #expect(r["hessian"] as? String == "pcg")
        #expect(r["status"] as? String == "converged")
        let rows = try #require(r["trace"] as? [[String: Any]]).dropFirst()
        #expect(!rows.isEmpty)
        for row in rows {
            #expect(row["model"] as? String == "pcg")
            #expect((row["cg_iterations"] as? Int).map { $0 >= 1 } == true)
            #expect((row["preconditioner_age"] as? Int).map { $0 >= 0 } == true)
            #expect(row["cg_stop"] is String)
        }
        // Same x as exact (relative gradient 1e-10 on a well-conditioned problem).
        let last = try #require(rows.last?["reference_distance"] as? Double)
        let xRef = try MatrixMarket.readVector(from: xExact)
        #expect(last <= 1e-8 * max(1, xRef.map { $0 * $0 }.reduce(0, +).squareRoot()))
    }
}
