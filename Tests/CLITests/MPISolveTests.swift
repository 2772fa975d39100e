// `mpirun -np K hyperreg solve` (issue 17) against the single-process solve: the same status,
// iterations and x to round-off for 1, 2 and 4 ranks (exp, cosh, sinh; exact, sketch, auto;
// a .gz input; pre-split parts), rank 0 alone writing the outputs, and a bad line in one
// rank's share of the file ending every rank with the whole reader's message.
//
// Tolerance: x within 1e-12 of the single-process x, relative to max(1, ||x||). The ranks add
// their partial sums in rank order, so each sum over rows is associated differently for each
// K (docs/scale-out.md, "Same answer"); measured differences are 2e-15 to 5e-15 here, and a
// missed reduction is off by orders of magnitude (DistributedSolveTests checks that).
// Runs only where MPITransportTests run (mpirun and the MPI build: MPISetup).

import Foundation
import HyperRegTestSupport
import Testing

@Suite("hyperreg solve under mpirun", .serialized, .enabled(if: MPISetup.available, "mpirun or the MPI build of hyperreg is missing (see the printed line)"))
struct MPISolveTests {
    /// The x of a Matrix Market array file.
    static func readX(_ url: URL) throws -> [Double] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("%") }
        return lines.dropFirst().map { Double($0.trimmingCharacters(in: .whitespaces))! }
    }

    /// Solves with the MPI executable run plainly (the plain build's bits, MPITransportTests)
    /// and under mpirun with each of `ranks`, and compares.
    static func compare(_ dir: URL, inputs: [String], options: [String], ranks: [Int] = [1, 2, 4]) throws {
        let program = try #require(MPISetup.executable)
        let plainX = dir.appendingPathComponent("x-plain.mtx"), plainReport = dir.appendingPathComponent("r-plain.json")
        let plain = try runProcess(program, ["solve"] + inputs + options + ["--quiet", "--output", plainX.path, "--report", plainReport.path], timeout: 300)
        try #require(plain.status == 0, "plain solve: \(plain.stderr)")
        let reference = try readX(plainX), referenceReport = try readJSON(plainReport)
        for k in ranks {
            let x = dir.appendingPathComponent("x-\(k).mtx"), report = dir.appendingPathComponent("r-\(k).json")
            let run = try MPISetup.run(ranks: k, ["solve"] + inputs + options + ["--output", x.path, "--report", report.path])
            #expect(run.status == 0 && !run.timedOut, "\(k) ranks: \(run.stderr)")
            guard run.status == 0 else { continue }
            let got = try readX(x), json = try readJSON(report)
            #expect(json["status"] as? String == referenceReport["status"] as? String, "\(k) ranks: \(json["status"] ?? "-")")
            #expect(json["iterations"] as? Int == referenceReport["iterations"] as? Int, "\(k) ranks: \(json["iterations"] ?? "-") iterations")
            #expect(json["ranks"] as? Int == k)
            #expect((json["problem"] as? [String: Any])?["rows"] as? Int == (referenceReport["problem"] as? [String: Any])?["rows"] as? Int)
            #expect(got.count == reference.count)
            let distance = zip(got, reference).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            let scale = max(1, reference.map { $0 * $0 }.reduce(0, +).squareRoot())
            #expect(distance <= 1e-12 * scale, "\(k) ranks: x differs by \(distance / scale)")
            if k > 1 {
                // Per-iteration communication in the trace, and the run's total.
                let trace = json["trace"] as? [[String: Any]] ?? []
                #expect(trace.dropFirst().allSatisfy { ($0["communication_bytes"] as? Int ?? 0) > 0 })
                #expect(((json["communication"] as? [String: Any])?["bytes_sent"] as? Int ?? 0) > 0)
                // Progress from rank 0 only: one table header.
                #expect(run.stderr.components(separatedBy: "hyperreg solve:").count == 2, "\(run.stderr)")
            }
        }
    }

    @Test(arguments: [("exp", "exact"), ("cosh", "sketch"), ("sinh", "auto"), ("exp", "pcg")])
    func ranksReachTheSingleProcessAnswer(_ setting: (function: String, hessian: String)) throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-solve")
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: setting.function, rows: 6000, cols: 12, weight: "0.1")
        try Self.compare(dir, inputs: [dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                                       "--weights", dir.appendingPathComponent("w.mtx").path],
                         options: ["--function", setting.function, "--hessian", setting.hessian])
    }

    /// A .gz matrix is read by rank 0 and its rows scattered; pre-split parts are read one per rank.
    @Test func gzipAndPreSplitInputs() throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-solve")
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "exp", rows: 5000, cols: 10, weight: "0.1")
        let a = dir.appendingPathComponent("A.mtx").path, b = dir.appendingPathComponent("b.mtx").path
        let gzip = try runProcess(URL(fileURLWithPath: "/bin/gzip"), ["-k", a], timeout: 60)
        try #require(gzip.status == 0, "\(gzip.stderr)")
        try Self.compare(dir, inputs: [a + ".gz", b], options: ["--weight", "0.1"], ranks: [2])
        let parts = dir.appendingPathComponent("parts")
        let split = try hyperreg(["partition", a, b, "--parts", "2", "--output-dir", parts.path])
        try #require(split.status == 0, "\(split.stderr)")
        let run = try MPISetup.run(ranks: 2, ["solve", parts.appendingPathComponent("A.parts").path, parts.appendingPathComponent("b.parts").path,
                                              "--weight", "0.1", "--quiet", "--output", dir.appendingPathComponent("x-parts.mtx").path])
        #expect(run.status == 0, "\(run.stderr)")
        let plain = try Self.readX(dir.appendingPathComponent("x-plain.mtx")), split2 = try Self.readX(dir.appendingPathComponent("x-parts.mtx"))
        // The same two ranks, the same rows per rank: the same bits as the byte-range read.
        #expect(try Self.readX(dir.appendingPathComponent("x-2.mtx")) == split2)
        #expect(zip(plain, split2).map { Swift.abs($0 - $1) }.max()! <= 1e-12 * max(1, plain.map(Swift.abs).max()!))
    }

    /// A malformed line in the last quarter of A (rank 3's bytes): every rank exits 1, the
    /// message (file and line) printed once, no x written.
    @Test func aBadLineOnOneRankEndsEveryRank() throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-solve")
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "exp", rows: 4000, cols: 8, weight: "0.1")
        let aURL = dir.appendingPathComponent("A.mtx")
        var lines = try String(contentsOf: aURL, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let bad = lines.count - 20
        lines[bad] = "12 x 0.5"
        try lines.joined(separator: "\n").write(to: aURL, atomically: true, encoding: .utf8)
        let x = dir.appendingPathComponent("x.mtx")
        let run = try MPISetup.run(ranks: 4, ["solve", aURL.path, dir.appendingPathComponent("b.mtx").path, "--weight", "0.1", "--output", x.path])
        #expect(run.status == 1 && !run.timedOut, "status \(run.status): \(run.stderr)")
        #expect(run.stderr.contains("\(aURL.path):\(bad + 1)"), "\(run.stderr)")
        #expect(run.stderr.components(separatedBy: "Error:").count == 2, "the message once: \(run.stderr)")
        #expect(!run.stderr.contains("MPI_ABORT"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: x.path))
    }
}
