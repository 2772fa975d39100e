// The MPI transport (HyperRegMPI) under a real `mpirun`: every collective of the
// communicator on 1, 2 and 4 ranks, in one round and in many small ones, the agreement on
// errors, and the MPI build's plain run against the plain build's. Runs only when `mpirun`
// is on the PATH and HYPERREG_MPI_EXECUTABLE names a `hyperreg` built with HYPERREG_MPI=1
// (scripts/test.sh builds one into .build-mpi and sets it); otherwise skipped with a line
// saying why (or failed, with HYPERREG_REQUIRE_MPI=1, as scripts/test.sh sets).

import Foundation
import HyperRegTestSupport
import SparseCore
import Testing

/// Where the MPI pieces are, or why the tests cannot run.
enum MPISetup {
    /// `mpirun` from the PATH.
    static let mpirun: URL? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    /// The MPI build of `hyperreg` (HYPERREG_MPI_EXECUTABLE).
    static let executable: URL? = ProcessInfo.processInfo.environment["HYPERREG_MPI_EXECUTABLE"].map { URL(fileURLWithPath: $0) }

    /// Why the tests are skipped, or nil when they run.
    static let skipReason: String? = {
        guard mpirun != nil else { return "no mpirun on the PATH (apt-get install openmpi-bin libopenmpi-dev)" }
        guard let executable else {
            return "HYPERREG_MPI_EXECUTABLE is not set (scripts/test.sh sets it after `HYPERREG_MPI=1 swift build -c release --product hyperreg --build-path .build-mpi`)"
        }
        guard FileManager.default.isExecutableFile(atPath: executable.path) else { return "HYPERREG_MPI_EXECUTABLE=\(executable.path) is not an executable file" }
        // The hidden mpi-check command exists in every build; only the MPI build says mpi_build.
        guard let dir = try? TestPaths.makeTemporaryDirectory("hyperreg-mpi-probe") else { return "no temporary directory" }
        defer { try? FileManager.default.removeItem(at: dir) }
        guard let run = try? runProcess(executable, ["mpi-check", "--output-dir", dir.path], timeout: 300), run.status == 0,
              let json = try? readJSON(dir.appendingPathComponent("rank-0.json")), json["mpi_build"] as? Bool == true
        else { return "\(executable.path) was not built with HYPERREG_MPI=1 (its mpi-check does not report an MPI build)" }
        return nil
    }()

    /// True when the tests run; prints the reason once when they do not.
    static let available: Bool = {
        if let skipReason { print("MPITransportTests skipped: \(skipReason)") }
        return skipReason == nil
    }()

    /// The run-as-root permission of TOOLCHAIN.md.
    static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]

    /// `mpirun -np ranks <MPI hyperreg> arguments` (`environment` added to this process's,
    /// which mpirun passes on to the ranks), ended after `timeout` seconds: generous, since
    /// the other tests load the machine (a hang is what it catches, not slowness). Shared
    /// memory as in TOOLCHAIN.md; idle ranks yield their core (4 ranks share 2 cores here).
    static func run(ranks: Int, _ arguments: [String], environment extra: [String: String] = [:], timeout: Double = 300) throws -> TimedRun {
        let launcher = try #require(mpirun), program = try #require(executable)
        return try runProcess(launcher, ["--oversubscribe", "-np", "\(ranks)", "--mca", "pml", "ob1", "--mca", "btl", "self,vader",
                                         "--mca", "mpi_yield_when_idle", "1", program.path] + arguments, environment: environment.merging(extra) { $1 }, timeout: timeout)
    }
}

/// A finished (or ended) process.
struct TimedRun {
    var status: Int32
    var stdout: String
    var stderr: String
    /// True when the process outlived its timeout and was killed.
    var timedOut: Bool
}

/// Runs `executable` with its output in files (no pipe can fill up); after `timeout` seconds
/// it is ended (SIGTERM, which mpirun passes on to its ranks, then SIGKILL) and `timedOut` set.
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], timeout: Double) throws -> TimedRun {
    let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-run")
    defer { try? FileManager.default.removeItem(at: dir) }
    let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    defer { try? out.close(); try? err.close() }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            process.terminate()
            Thread.sleep(forTimeInterval: 2)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            break
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    process.waitUntilExit()
    return TimedRun(status: process.terminationStatus,
                    stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                    stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                    timedOut: timedOut)
}

func readJSON(_ url: URL) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
}

/// The known data of `hyperreg mpi-check`, computed here independently of the command
/// (Sources/HyperRegCLI/MPICheck.swift, `TransportCheckData`: same formulas).
enum ExpectedTransportData {
    static func mix(_ stream: UInt64, _ rank: Int, _ index: Int) -> UInt64 {
        var z = stream &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(rank) &* 0xBF58_476D_1CE4_E5B9 &+ UInt64(index) &* 0x94D0_49BB_1331_11EB
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func contribution(count: Int, rank: Int) -> [Double] {
        (0 ..< count).map { j in
            let z = mix(1, rank, j)
            return (Double(z >> 11) * 0x1p-52 - 1) * Double(sign: .plus, exponent: Int(z & 63) % 53 - 26, significand: 1)
        }
    }

    static func hash(_ values: [Double]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in values {
            var bits = v.bitPattern
            for _ in 0 ..< 8 {
                h = (h ^ (bits & 0xFF)) &* 0x0000_0100_0000_01B3
                bits >>= 8
            }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The ordered sum's hash as the in-process ThreadGroup communicator computes it: the
    /// reference the MPI transport must match bit for bit.
    static func threadGroupSumHash(count: Int, ranks: Int) -> String {
        let hashes = ThreadGroup.run(ranks: ranks) { comm -> String in
            var values = contribution(count: count, rank: comm.rank)
            comm.sum(&values)
            return hash(values)
        }
        #expect(Set(hashes).count == 1, "ThreadGroup ranks disagree")
        return hashes[0]
    }
}

/// The plain build started by a launcher as one of several ranks (here only the launcher's
/// environment variable, no mpirun needed) says that every process runs alone.
@Test func thePlainBuildWarnsWhenStartedAsOneOfSeveralRanks() throws {
    let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-warning")
    defer { try? FileManager.default.removeItem(at: dir) }
    let run = try hyperreg(["mpi-check", "--output-dir", dir.path], environment: ["OMPI_COMM_WORLD_SIZE": "3"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stderr.contains("Warning: started as one of 3 ranks, but this hyperreg was built without MPI"))
    #expect(run.stdout.contains("mpi-check: 1 rank(s), transport single-process, all checks passed"))
    let quiet = try hyperreg(["mpi-check", "--output-dir", dir.path])
    #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
}

/// scripts/test.sh builds the MPI executable and sets HYPERREG_REQUIRE_MPI=1: there a skip
/// would hide a broken MPI build, so it fails instead.
@Test(.enabled(if: ProcessInfo.processInfo.environment["HYPERREG_REQUIRE_MPI"] == "1", "HYPERREG_REQUIRE_MPI is not set"))
func mpiTestsRunWhenRequired() {
    #expect(MPISetup.skipReason == nil, "HYPERREG_REQUIRE_MPI=1 but the MPI tests cannot run: \(MPISetup.skipReason ?? "")")
}

@Suite("MPI transport under mpirun", .serialized, .enabled(if: MPISetup.available, "mpirun or the MPI build of hyperreg is missing (see the printed line)"))
struct MPITransportTests {
    /// Runs mpi-check on `ranks` ranks and checks every rank's record against values computed
    /// here. `chunkBytes` forces the transport's rounds (64 bytes: several per collective).
    private func checkCollectives(ranks: Int, chunkBytes: Int?) throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try MPISetup.run(ranks: ranks, ["mpi-check", "--output-dir", dir.path] + (chunkBytes.map { ["--chunk-bytes", "\($0)"] } ?? []))
        #expect(!run.timedOut, "mpirun -np \(ranks) hung")
        #expect(run.status == 0, "mpi-check failed on \(ranks) ranks: \(run.stderr)")
        #expect(run.stdout.contains("mpi-check: \(ranks) rank(s)"))
        #expect(run.stdout.contains("all checks passed"))

        let expectedSums = Dictionary(uniqueKeysWithValues: [1, 7, 20_100].map { count -> (String, String) in
            // The test's own rank-order sum, which must equal ThreadGroup's.
            var total = ExpectedTransportData.contribution(count: count, rank: 0)
            for r in 1 ..< ranks {
                let c = ExpectedTransportData.contribution(count: count, rank: r)
                for j in 0 ..< count { total[j] += c[j] }
            }
            let mine = ExpectedTransportData.hash(total)
            #expect(mine == ExpectedTransportData.threadGroupSumHash(count: count, ranks: ranks))
            return ("\(count)", mine)
        })
        let algorithms = ranks == 1 ? ["automatic"] : ["allGather", "gatherBroadcast", "reduceScatter", "automatic"]
        let gatherCounts = (0 ..< ranks).map { ($0 * 5) % 7 }

        for rank in 0 ..< ranks {
            let json = try readJSON(dir.appendingPathComponent("rank-\(rank).json"))
            #expect(json["rank"] as? Int == rank)
            #expect(json["size"] as? Int == ranks)
            #expect(json["mpi_build"] as? Bool == true)
            // One rank: the MPI build does not initialise MPI (same path as the plain build).
            #expect(json["transport"] as? String == (ranks == 1 ? "single-process" : "mpi"))
            #expect((json["failures"] as? [String]) == [], "rank \(rank) of \(ranks): \(json["failures"] ?? "")")

            // Ordered sums: identical bits on every rank, for every algorithm, equal to the
            // rank-order sum (bit equality: the order of the additions is the whole contract).
            let sums = try #require(json["sums"] as? [String: [String: String]])
            for (count, expected) in expectedSums {
                let byAlgorithm = try #require(sums[count])
                #expect(Set(byAlgorithm.keys) == Set(algorithms))
                for (algorithm, hash) in byAlgorithm {
                    #expect(hash == expected, "sum of \(count) values by \(algorithm) on rank \(rank) of \(ranks)")
                }
            }

            let gathered = try #require(json["gathered_counts"] as? [String: [Int]])
            for kind in ["doubles", "ints"] { #expect(gathered[kind] == gatherCounts) }
            #expect(gathered["bytes"] == gatherCounts.map { 100 * $0 })
            let broadcast = try #require(json["broadcast_counts"] as? [String: Int])
            #expect(broadcast["doubles"] == ranks)
            #expect(broadcast["bytes"] == 300)
            #expect(json["exchange_counts"] as? [Int] == (0 ..< ranks).map { ((3 * $0 + rank) % 5) * 37 })

            let firstError = try #require(json["first_error"] as? [String: Any])
            #expect(firstError["none"] is NSNull)
            #expect(firstError["every_rank"] as? String == "0: message from rank 0")
            if ranks == 1 {
                #expect(firstError["all_but_rank_0"] is NSNull)
            } else {
                #expect(firstError["all_but_rank_0"] as? String == "1: message from rank 1")
            }
            let integers = try #require(json["integers"] as? [String: Any])
            #expect(integers["sum"] as? Int == ranks * (ranks + 1) / 2)
            #expect(integers["maximum"] as? Int == 3 * (ranks - 1))
            #expect(integers["all"] as? Bool == (ranks == 1))

            let traffic = try #require(json["traffic"] as? [String: Any])
            if ranks > 1 {
                #expect(traffic["calls"] as? Int == 2)
                #expect(traffic["bytes_sent"] as? Int == 8 * 20_100 + 100 * gatherCounts[rank])
                #expect(traffic["seconds_positive"] as? Bool == true)
            } else {
                #expect(traffic["calls"] as? Int == 0)   // SingleProcess: no communication
            }
        }
    }

    @Test(arguments: [1, 2, 4])
    func collectivesGiveTheExpectedResults(ranks: Int) throws {
        try checkCollectives(ranks: ranks, chunkBytes: nil)
    }

    /// 64-byte messages: every gather, broadcast, exchange and sum goes in many rounds (the
    /// path that keeps counts beyond Int32 working), with the same results.
    @Test(arguments: [2, 4])
    func collectivesInSmallRoundsGiveTheSameResults(ranks: Int) throws {
        try checkCollectives(ranks: ranks, chunkBytes: 64)
    }

    /// An error on one rank, agreed through `firstError`: every rank ends with the same message
    /// and exit code 1, printed once, no rank hangs, no output written.
    @Test(arguments: [2, 4])
    func anErrorOnOneRankEndsEveryRankAlike(ranks: Int) throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let failing = ranks - 1
        let run = try MPISetup.run(ranks: ranks, ["mpi-check", "--output-dir", dir.path, "--fail-on-rank", "\(failing)"], timeout: 180)
        #expect(!run.timedOut, "a failing rank left the others hanging")
        #expect(run.status == 1)
        let message = "Error: mpi-check: failure injected on rank \(failing) of \(ranks)"
        #expect(run.stderr.components(separatedBy: message).count == 2, "the message should appear once: \(run.stderr)")
        #expect(!run.stderr.contains("MPI_ABORT"), "an agreed error must not need MPI_Abort")
        for rank in 0 ..< ranks {
            let agreed = try String(contentsOf: dir.appendingPathComponent("agreed-\(rank).txt"), encoding: .utf8)
            #expect(agreed == "1\n\(failing)\n\(message)\n", "rank \(rank)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("rank-\(rank).json").path))
        }
    }

    /// An error on one rank that the others do not hear about (they wait in a barrier): the
    /// last resort, MPI_Abort, ends the whole run with the error's exit code, no hang.
    @Test(arguments: [2, 4])
    func anUnagreedErrorAbortsTheRun(ranks: Int) throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-abort")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try MPISetup.run(ranks: ranks, ["mpi-check", "--output-dir", dir.path, "--abort-on-rank", "1"], timeout: 180)
        #expect(!run.timedOut, "the waiting ranks were not ended")
        #expect(run.status == 1)
        #expect(run.stderr.contains("Error: mpi-check: unagreed failure injected on rank 1 of \(ranks)"))
        #expect(run.stderr.contains("rank 1 of \(ranks) ends the run (MPI_Abort, exit code 1)"))
        for rank in 0 ..< ranks {
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("rank-\(rank).json").path))
        }
    }

    /// A plain run of the MPI build, and one under `mpirun -np 1`, is the plain build's run:
    /// the same x, bit for bit, the same status and iterations.
    @Test func aSingleRankRunOfTheMPIBuildMatchesThePlainBuild() throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-mpi-plain")
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, function: "cosh", rows: 3000, cols: 30, weight: "0.1")
        func solveArguments(_ tag: String) -> [String] {
            ["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path,
             "--weights", dir.appendingPathComponent("w.mtx").path, "--function", "cosh",
             "--output", dir.appendingPathComponent("x-\(tag).mtx").path, "--report", dir.appendingPathComponent("report-\(tag).json").path]
        }
        let plain = try hyperreg(solveArguments("plain"), environment: oneBLASThread)
        #expect(plain.status == 0, "\(plain.stderr)")
        let mpiPlain = try runProcess(try #require(MPISetup.executable), solveArguments("mpi"), environment: oneBLASThread, timeout: 120)
        #expect(mpiPlain.status == 0 && !mpiPlain.timedOut, "\(mpiPlain.stderr)")
        let oneRank = try MPISetup.run(ranks: 1, solveArguments("np1"), environment: oneBLASThread, timeout: 120)
        #expect(oneRank.status == 0 && !oneRank.timedOut, "\(oneRank.stderr)")
        let x = try Data(contentsOf: dir.appendingPathComponent("x-plain.mtx"))
        let reference = try readJSON(dir.appendingPathComponent("report-plain.json"))
        for tag in ["mpi", "np1"] {
            #expect(try Data(contentsOf: dir.appendingPathComponent("x-\(tag).mtx")) == x, "x of the \(tag) run differs from the plain build's")
            let report = try readJSON(dir.appendingPathComponent("report-\(tag).json"))
            for key in ["status", "iterations", "final_loss", "final_gradient_norm"] {
                #expect("\(report[key] ?? "missing")" == "\(reference[key] ?? "missing")", "\(key) of the \(tag) run")
            }
        }
    }
}
