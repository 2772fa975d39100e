// Outputs a user can trust (docs/cli.md, "Outputs"; docs/reliability.md): the built
// `hyperreg` never replaces a device node, a symbolic link or an input, refuses clashing
// outputs before any work, commits x and the report together, leaves no temporary file
// when killed, and reports lost standard output as an error. Device nodes are private
// copies made with mknod in a temporary folder (root only; skipped otherwise), never the
// system's /dev/null or /dev/full.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

/// A finished run of the binary with custom standard output and environment.
private func run(_ arguments: [String], stdoutPath: String? = nil, environment: [String: String] = [:]) throws -> CLIRun {
    let process = try makeProcess(arguments, stdoutPath: stdoutPath, environment: environment)
    let err = Pipe()
    process.standardError = err
    let out = Pipe()
    if stdoutPath == nil { process.standardOutput = out }
    try process.run()
    let outData = stdoutPath == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

private func makeProcess(_ arguments: [String], stdoutPath: String?, environment: [String: String]) throws -> Process {
    let binary = try #require(Binary.url, "the hyperreg binary was not found; run `swift build` first")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let stdoutPath {
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
    }
    return process
}

private let isRoot = getuid() == 0

/// A folder holding the bundled 2000 x 50 problem (A, b, w copied in).
private struct Workspace {
    let dir: URL
    init() throws {
        dir = try TestPaths.makeTemporaryDirectory("hyperreg-outputs")
        let source = TestPaths.bundledDataDirectory.appendingPathComponent("planted-exp-2000x50")
        for name in ["A.mtx", "b.mtx", "w.mtx"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
    }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    /// `solve A b --weights w --quiet` plus `extra`.
    var solve: [String] { ["solve", path("A.mtx"), path("b.mtx"), "--weights", path("w.mtx"), "--quiet"] }
    func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }
    func bytes(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }
    /// Makes a private character device `name` (1, minor): 3 is null, 7 is full.
    func node(_ name: String, minor: Int) throws -> String {
        let p = path(name)
        #expect(mknod(p, S_IFCHR | 0o666, makedev(1, UInt32(minor))) == 0, "mknod \(p): \(String(cString: strerror(errno)))")
        return p
    }
    func remove() { try? FileManager.default.removeItem(at: dir) }
    func isCharacterDevice(_ name: String) -> Bool {
        var info = stat()
        return lstat(path(name), &info) == 0 && info.st_mode & S_IFMT == S_IFCHR
    }
}

private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
    dev_t((major & 0xfff) << 8 | (minor & 0xff) | ((minor & ~0xff) << 12))
}

@Suite("Outputs a user can trust", .serialized)
struct OutputSafetyTests {
    @Test(.enabled(if: isRoot, "mknod needs root; device-node outputs are not tested here"))
    func deviceNodesAreWrittenInPlaceNeverReplaced() throws {
        let w = try Workspace()
        defer { w.remove() }
        _ = try w.node("null", minor: 3)
        _ = try w.node("full", minor: 7)
        let before = try w.listing()
        // A null device takes x and the report and stays a device.
        let ok = try run(w.solve + ["--output", w.path("null"), "--report", w.path("null2")])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(w.isCharacterDevice("null"))
        try FileManager.default.removeItem(atPath: w.path("null2"))
        let r = try run(w.solve + ["--report", w.path("null")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(w.isCharacterDevice("null"))
        // A full device: exit 1 naming it, still a device, nothing else written.
        let full = try run(w.solve + ["--output", w.path("full")])
        #expect(full.status == 1)
        #expect(full.stderr.contains(w.path("full")) && full.stderr.contains("No space left"), "\(full.stderr)")
        #expect(w.isCharacterDevice("full"))
        #expect(try w.listing() == before)
    }

    @Test(.enabled(if: isRoot, "mknod needs root"))
    func aFailedReportKeepsXFromAppearing() throws {
        // x to a file, the report to a full device: the report fails, and x, already written
        // to its temporary file, must not appear (the pair is committed together).
        let w = try Workspace()
        defer { w.remove() }
        _ = try w.node("full", minor: 7)
        let before = try w.listing()
        let r = try run(w.solve + ["--output", w.path("x.mtx"), "--report", w.path("full")])
        #expect(r.status == 1)
        #expect(try w.listing() == before, "x.mtx or a temporary file appeared")
    }

    @Test(.enabled(if: isRoot, "mknod needs root"))
    func lostStandardOutputIsAnError() throws {
        let w = try Workspace()
        defer { w.remove() }
        let full = try w.node("full", minor: 7)
        let info = try run(["info", w.path("A.mtx")], stdoutPath: full)
        #expect(info.status == 1)
        #expect(info.stderr.contains("<stdout>") && info.stderr.contains("No space left"), "\(info.stderr)")
        let diagnose = try run(["diagnose", w.path("A.mtx"), w.path("b.mtx"), "--weights", w.path("w.mtx"),
                                "--x", TestPaths.bundledDataDirectory.appendingPathComponent("planted-exp-2000x50/x_true.mtx").path],
                               stdoutPath: full)
        #expect(diagnose.status == 1, "\(diagnose.stderr)")
        let report = try run(w.solve + ["--report", "-"], stdoutPath: full)
        #expect(report.status == 1)
        // x and a report on stdout are one commit: the lost report keeps x from appearing.
        let pair = try run(w.solve + ["--output", w.path("x.mtx"), "--report", "-"], stdoutPath: full)
        #expect(pair.status == 1)
        #expect(!FileManager.default.fileExists(atPath: w.path("x.mtx")), "x appeared although its report was lost")
        let generate = try run(["generate", "--rows", "50", "--cols", "3", "--density", "0.5", "--output-dir", w.path("gen")], stdoutPath: full)
        #expect(generate.status == 1)
        // The generated files and the summary line are one commit: no file without the line.
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.path("gen")).isEmpty)
    }

    @Test func aSymbolicLinkKeepsItsLinkAndGetsItsTargetReplaced() throws {
        let w = try Workspace()
        defer { w.remove() }
        try "old".write(toFile: w.path("target.mtx"), atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: w.path("link.mtx"), withDestinationPath: "target.mtx")
        try FileManager.default.createSymbolicLink(atPath: w.path("dangling.mtx"), withDestinationPath: "new.mtx")
        let r = try run(w.solve + ["--output", w.path("link.mtx"), "--report", w.path("dangling.mtx")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: w.path("link.mtx")) == "target.mtx")
        #expect(try MatrixMarket.readVector(from: w.path("target.mtx")).count == 50)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: w.path("dangling.mtx")) == "new.mtx")
        #expect(try JSONSerialization.jsonObject(with: w.bytes("new.mtx")) is [String: Any])
        #expect(try w.listing() == ["A.mtx", "b.mtx", "dangling.mtx", "link.mtx", "new.mtx", "target.mtx", "w.mtx"])
    }

    @Test func anOutputThatIsAnInputOrAnotherOutputIsRefusedBeforeAnyWork() throws {
        let w = try Workspace()
        defer { w.remove() }
        try FileManager.default.linkItem(atPath: w.path("b.mtx"), toPath: w.path("hardlink-b.mtx"))
        try FileManager.default.createSymbolicLink(atPath: w.path("link-w.mtx"), withDestinationPath: "w.mtx")
        let inputs = try ["A.mtx", "b.mtx", "w.mtx"].map { try w.bytes($0) }
        let before = try w.listing()
        let cases: [([String], String)] = [
            (["--output", w.path("A.mtx")], "same file as A"),
            (["--report", w.path("A.mtx")], "same file as A"),
            (["--output", w.path("b.mtx")], "same file as b"),
            (["--output", w.path("hardlink-b.mtx")], "same file as b"),
            (["--report", w.path("link-w.mtx")], "same file as w"),
            (["--output", w.path("f"), "--report", w.path("f")], "same file as --output"),
            (["--output", w.path("f"), "--report", w.dir.appendingPathComponent("./f").path], "same file as --output"),
        ]
        for (extra, fragment) in cases {
            let r = try run(w.solve + extra)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(fragment), "\(extra): \(r.stderr)")
            #expect(!r.stderr.contains("Usage:"), "the reason must not be buried under the usage text")
        }
        #expect(try ["A.mtx", "b.mtx", "w.mtx"].map { try w.bytes($0) } == inputs)
        #expect(try w.listing() == before)
        // Shift and diagnose apply the same rule.
        let x = TestPaths.bundledDataDirectory.appendingPathComponent("planted-exp-2000x50/x_true.mtx").path
        let diagnose = try run(["diagnose", w.path("A.mtx"), w.path("b.mtx"), "--x", x, "--report", w.path("b.mtx")])
        #expect(diagnose.status == 64, "\(diagnose.stderr)")
        let shift = try run(["shift", w.path("A.mtx"), w.path("b.mtx"), "--from", x, "--to", x, "--output", w.path("A.mtx")])
        #expect(shift.status == 64, "\(shift.stderr)")
        #expect(try ["A.mtx", "b.mtx", "w.mtx"].map { try w.bytes($0) } == inputs)
    }

    @Test func unusableOutputPathsFailBeforeTheSolve() throws {
        let w = try Workspace()
        defer { w.remove() }
        try FileManager.default.createDirectory(atPath: w.path("folder"), withIntermediateDirectories: false)
        let before = try w.listing()
        let cases: [([String], String)] = [
            (["--output", w.path("no/such/x.mtx")], "does not exist"),
            (["--output", w.path("folder")], "is a folder"),
            (["--output", w.path("x.mtx"), "--report", w.path("no/report.json")], "does not exist"),
            (["--report", w.path("folder/")], "is a folder"),
        ]
        for (extra, fragment) in cases {
            // Without --quiet: the iteration table would show on stderr if the solve had run.
            let r = try run(w.solve.filter { $0 != "--quiet" } + extra)
            #expect(r.status == 64, "\(extra): \(r.stderr)")
            #expect(r.stderr.contains(fragment), "\(extra): \(r.stderr)")
            #expect(!r.stderr.contains("rel ||g||"), "\(extra): the solve ran before the output was checked")
        }
        #expect(try w.listing() == before)
    }

    @Test(.enabled(if: isRoot, "mkfifo as a writer that blocks is used as a widened window"),
          arguments: [(SIGTERM, false), (SIGINT, false), (SIGTERM, true), (SIGKILL, false)])
    func aKillDuringTheCommitLeavesNothing(signal: Int32, named: Bool) throws {
        // The report is a FIFO nobody reads: the commit writes x's temporary file, then
        // blocks opening the FIFO. The kill arrives there; x must not appear, nor any
        // temporary file (unnamed with O_TMPFILE; named and removed by the signal handler
        // with HYPERREG_NAMED_TEMPORARY_FILES=1).
        let w = try Workspace()
        defer { w.remove() }
        #expect(mkfifo(w.path("fifo"), 0o666) == 0)
        let before = try w.listing()
        let process = try makeProcess(w.solve + ["--output", w.path("x.mtx"), "--report", w.path("fifo")], stdoutPath: nil,
                                      environment: named ? ["HYPERREG_NAMED_TEMPORARY_FILES": "1"] : [:])
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the process holds x's temporary file (a named one in the folder, or
        // an unnamed one among its open files), then a little longer for the FIFO open.
        let deadline = Date().addingTimeInterval(60)
        func holdsTemporary() -> Bool {
            if named { return (try? w.listing().contains { $0.hasPrefix(".x.mtx.tmp-") }) ?? false }
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd")) ?? []
            return fds.contains { fd in
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/fd/\(fd)")) ?? ""
                return target.hasPrefix(w.dir.path) && target.contains("(deleted)")
            }
        }
        while process.isRunning && !holdsTemporary() && Date() < deadline { usleep(20_000) }
        #expect(process.isRunning, "the process ended before blocking on the FIFO")
        usleep(200_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal)
        #expect(try w.listing() == before, "x.mtx or a temporary file was left behind")
    }

    @Test func theMemoryPlanRefusesAHugeDeclaredProblemBeforeReading() throws {
        let w = try Workspace()
        defer { w.remove() }
        // 69 bytes declaring 1.5e9 rows (the CSR offsets alone would be 12 GB).
        try "%%MatrixMarket matrix coordinate real general\n1500000000 1 1\n1 1 1.0\n".write(toFile: w.path("big.mtx"), atomically: false, encoding: .utf8)
        try "%%MatrixMarket matrix array real general\n1500000000 1\n".write(toFile: w.path("bigb.mtx"), atomically: false, encoding: .utf8)
        // A b of the wrong length: found from the headers, before A's 1.5e9 rows exist.
        let mismatch = try run(["solve", w.path("big.mtx"), w.path("b.mtx"), "--quiet"])
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("b has 2000 entries but \(w.path("big.mtx")) has 1500000000 rows"), "\(mismatch.stderr)")
        // Matching shapes: b's own declared storage (25.5 GB with its dense result) is
        // already refused by the reader's header check on a machine of 24 GiB.
        let plan = try run(["solve", w.path("big.mtx"), w.path("bigb.mtx"), "--quiet"])
        #expect(plan.status == 1)
        #expect(plan.stderr.contains("needs about"), "\(plan.stderr)")
        // 2e8 rows: each file passes its own check (3.2 GB of row offsets, 3.4 GB for b), but
        // the whole plan (18 n-vectors: 28.8 GB) exceeds the memory of any machine this runs on.
        try "%%MatrixMarket matrix coordinate real general\n200000000 1 1\n1 1 1.0\n".write(toFile: w.path("mid.mtx"), atomically: false, encoding: .utf8)
        try "%%MatrixMarket matrix array real general\n200000000 1\n".write(toFile: w.path("midb.mtx"), atomically: false, encoding: .utf8)
        let whole = try run(["solve", w.path("mid.mtx"), w.path("midb.mtx"), "--quiet", "--memory-limit", "20G"])
        #expect(whole.status == 1)
        #expect(whole.stderr.contains("needs about") && whole.stderr.contains("nothing was read"), "\(whole.stderr)")
        // --memory-limit applies to the whole plan (the 2000 x 50 problem needs ~100 MB).
        let limited = try run(w.solve + ["--memory-limit", "10M"])
        #expect(limited.status == 1 && limited.stderr.contains("more than --memory-limit"), "\(limited.stderr)")
        #expect(try run(w.solve + ["--memory-limit", "lots"]).status == 64)
        #expect(try run(w.solve + ["--memory-limit", "2G"]).status == 0)
        let info = try run(["info", w.path("big.mtx"), "--memory-limit", "1G"])
        #expect(info.status == 1 && info.stderr.contains("needs about"), "\(info.stderr)")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil,
                   "AddressSanitizer reserves terabytes of address space, so ulimit -v cannot be used under it"))
    func underAnAddressSpaceCapTheRefusalComesBeforeAnyAllocation() throws {
        // The same 1.5e9-row problem under `ulimit -v` of 1 GB: an attempt to allocate the
        // 12 GB of row offsets would abort ("failed to allocate"); the plan must refuse first.
        let w = try Workspace()
        defer { w.remove() }
        try "%%MatrixMarket matrix coordinate real general\n1500000000 1 1\n1 1 1.0\n".write(toFile: w.path("big.mtx"), atomically: false, encoding: .utf8)
        try "%%MatrixMarket matrix array real general\n1500000000 1\n".write(toFile: w.path("bigb.mtx"), atomically: false, encoding: .utf8)
        let binary = try #require(Binary.url).path
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "export OPENBLAS_NUM_THREADS=1; ulimit -v 1000000 && exec \"$0\" \"$@\"", binary, "solve", w.path("big.mtx"), w.path("bigb.mtx"), "--quiet"]
        let err = Pipe()
        shell.standardError = err
        try shell.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(shell.terminationReason == .exit && shell.terminationStatus == 1, "\(text)")
        #expect(text.contains("needs about"), "\(text)")
        let info = Process()
        info.executableURL = URL(fileURLWithPath: "/bin/sh")
        info.arguments = ["-c", "export OPENBLAS_NUM_THREADS=1; ulimit -v 1000000 && exec \"$0\" \"$@\"", binary, "info", w.path("big.mtx")]
        let infoErr = Pipe()
        info.standardError = infoErr
        info.standardOutput = FileHandle.nullDevice
        try info.run()
        let infoText = String(decoding: infoErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        info.waitUntilExit()
        #expect(info.terminationReason == .exit && info.terminationStatus == 1, "\(infoText)")
        #expect(infoText.contains("ulimit -v") || infoText.contains("needs about"), "\(infoText)")
    }
}
