import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

/// Runs the built `hyperreg` binary and captures exit code, stdout and stderr.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Binary {
    /// The `hyperreg` executable beside the test bundle (or HYPERREG_BINARY).
    static let url: URL? = {
        if let path = ProcessInfo.processInfo.environment["HYPERREG_BINARY"] { return URL(fileURLWithPath: path) }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDir.appendingPathComponent("hyperreg"),
                          bundleDir.deletingLastPathComponent().appendingPathComponent("hyperreg"),
                          TestPaths.packageRoot.appendingPathComponent(".build/debug/hyperreg")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()
}

/// Runs the hyperreg binary; `environment` is added to this process's environment (e.g.
/// `oneBLASThread`).
func hyperreg(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
    let binary = try #require(Binary.url, "the hyperreg binary was not found; run `swift build` first")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// One OpenBLAS thread and one hyperreg thread, as scripts/make-expectations.sh records with:
/// OpenBLAS splits its work by its own thread count (the machine's cores by default), which
/// moves the last bits of the dense d = 384 problems, and near the tolerance that can decide
/// between `converged` and `converged_at_roundoff`.
let oneBLASThread = ["OPENBLAS_NUM_THREADS": "1", "HYPERREG_THREADS": "1"]

func generateProblem(_ dir: URL, function: String = "exp", rows: Int = 2000, cols: Int = 20, weight: String = "1", seed: Int = 3) throws {
    let r = try hyperreg(["generate", "--rows", "\(rows)", "--cols", "\(cols)", "--density", "0.2", "--function", function,
                          "--weight", weight, "--seed", "\(seed)", "--output-dir", dir.path])
    #expect(r.status == 0, "generate failed: \(r.stderr)")
}

@Suite("hyperreg command line", .serialized)
struct CLITests {
    @Test(arguments: ["exp", "cosh", "sinh"])
    func generateThenSolveEndToEnd(function: String) throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: function, weight: "0.1")
        for name in ["A.mtx", "b.mtx", "w.mtx", "x_true.mtx"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path))
        }
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("report.json").path
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--weights", dir.appendingPathComponent("w.mtx").path, "--function", function,
                              "--output", x, "--report", report])
        #expect(r.status == 0, "solve failed: \(r.stderr)")
        #expect(r.stderr.contains("rel ||g||"))   // the per-iteration table on stderr
        #expect(r.stdout.isEmpty)                 // results went to files
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        for key in ["status", "iterations", "final_loss", "final_gradient_norm", "seconds", "read_seconds", "trace"] {
            #expect(json[key] != nil, "report lacks \(key)")
        }
        #expect(json["status"] as? String == "converged")
        #expect(json["success"] as? Bool == true)
        #expect((json["relative_gradient_norm"] as? Double ?? 1) <= 1e-10)
        let solution = try MatrixMarket.readVector(from: x)
        #expect(solution.count == 20)
        #expect(solution.allSatisfy { $0.isFinite })
    }

    @Test func usageErrorsExit64() throws {
        #expect(try hyperreg(["solve"]).status == 64)
        #expect(try hyperreg(["solve", "a.mtx", "b.mtx", "--weight", "-1"]).status == 64)
        #expect(try hyperreg(["solve", "a.mtx", "b.mtx", "--weight", "1", "--weights", "w.mtx"]).status == 64)
        #expect(try hyperreg(["solve", "a.mtx", "b.mtx", "--function", "tanh"]).status == 64)
        #expect(try hyperreg(["generate", "--rows", "10", "--cols", "2", "--density", "2", "--output-dir", "/tmp/x"]).status == 64)
    }

    @Test func missingInputExits1NamingTheFileAndWritesNothing() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", "/nonexistent/A.mtx", "/nonexistent/b.mtx", "--output", x, "--report", report])
        #expect(r.status == 1)
        #expect(r.stderr.contains("/nonexistent/A.mtx"))
        #expect(!FileManager.default.fileExists(atPath: x))
        #expect(!FileManager.default.fileExists(atPath: report))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)   // no temp files either
    }

    @Test func mismatchedDimensionsExit1WithMessage() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let other = dir.appendingPathComponent("other")
        try generateProblem(dir)
        try generateProblem(other, rows: 1500)
        let x = dir.appendingPathComponent("x.mtx").path
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, other.appendingPathComponent("b.mtx").path, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("1500 entries"))
        #expect(r.stderr.contains("2000 rows"))
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func negativeWeightNamesTheFileAndEntry() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir)
        var w = [Double](repeating: 1, count: 2000)
        w[41] = -0.5
        let wPath = dir.appendingPathComponent("bad-w.mtx").path
        try MatrixMarket.writeArray(w, rowCount: 2000, columnCount: 1, to: wPath)
        let x = dir.appendingPathComponent("x.mtx").path
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--weights", wPath, "--output", x])
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad-w.mtx: entry 42"))
        #expect(!FileManager.default.fileExists(atPath: x))
    }

    @Test func stationaryZeroStartIsExplainedAndExits1() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "cosh")
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("r.json").path
        let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                              "--function", "cosh", "--start", "zero", "--output", x, "--report", report])
        #expect(r.status == 1)
        #expect(r.stderr.contains("stationary"))
        #expect(!FileManager.default.fileExists(atPath: x))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        #expect(json["status"] as? String == "stationary_start")
    }

    @Test func sameOutputBytesAndReportWithOneAndTwoThreads() throws {
        // Same input and seed: x must be byte-identical and the report identical apart from
        // timings and the thread count, for the default start (log-fit) and a seeded random one.
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 60000, cols: 30, seed: 4)
        for start in ["auto", "random"] {
            var outputs: [Data] = []
            var reports: [NSDictionary] = []
            for threads in ["1", "2"] {
                let x = dir.appendingPathComponent("x\(threads).mtx").path, report = dir.appendingPathComponent("r\(threads).json").path
                let r = try hyperreg(["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
                                      "--start", start, "--seed", "17", "--threads", threads, "--quiet", "--output", x, "--report", report])
                #expect(r.status == 0, "\(r.stderr)")
                outputs.append(try Data(contentsOf: URL(fileURLWithPath: x)))
                var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
                #expect(json["threads"] as? Int == Int(threads))
                for key in ["seconds", "read_seconds", "timings", "threads", "pass_seconds"] { json[key] = nil }
                let trace = try #require(json["trace"] as? [[String: Any]])
                #expect(trace.count > 2)
                let timingKeys: Set<String> = ["seconds", "iteration_seconds", "iteration_passes", "times"]
                json["trace"] = trace.map { row in row.filter { !timingKeys.contains($0.key) } }
                reports.append(json as NSDictionary)
            }
            #expect(outputs[0] == outputs[1], "start \(start): x differs between 1 and 2 threads")
            #expect(reports[0] == reports[1], "start \(start): the reports differ beyond timings")
        }
    }

    @Test(.enabled(if: TestPaths.runsSharedDataTests,
                   "../shared/data/mtx is absent beside this checkout (a clone on its own); set HYPERREG_REQUIRE_SHARED_DATA=1 to make that a failure"))
    func infoDescribesASharedFile() throws {
        let file = TestPaths.sharedMatrixDirectory.appendingPathComponent("bcsstk13.mtx").path
        let r = try hyperreg(["info", file])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("shape: 2003 x 2003"))
        #expect(r.stdout.contains("83883"))
    }
}
