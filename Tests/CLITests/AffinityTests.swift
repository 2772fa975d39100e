// The default thread count follows the CPU affinity (taskset, a cpuset, an MPI launcher's
// binding of a rank to a core), not only the online processor count: a process bound to one
// core that ran one thread per online core would time-slice them on that core.

import Foundation
import HyperRegTestSupport
import Testing

@Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") && ProcessInfo.processInfo.activeProcessorCount >= 2,
               "needs /usr/bin/taskset and two cores"))
func theDefaultThreadCountFollowsTheAffinity() throws {
    let dir = try TestPaths.makeTemporaryDirectory("hyperreg-affinity")
    defer { try? FileManager.default.removeItem(at: dir) }
    try generateProblem(dir, rows: 500, cols: 5)
    let binary = try #require(Binary.url)
    func threads(_ launcher: [String]) throws -> Int? {
        let report = dir.appendingPathComponent("r.json")
        let run = try runProcess(URL(fileURLWithPath: launcher.isEmpty ? binary.path : "/usr/bin/taskset"),
                                 launcher + (launcher.isEmpty ? [] : [binary.path]) +
                                 ["solve", dir.appendingPathComponent("A.mtx").path, dir.appendingPathComponent("b.mtx").path, "--quiet", "--report", report.path],
                                 environment: ["HYPERREG_THREADS": ""], timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        return try readJSON(report)["threads"] as? Int
    }
    #expect(try threads(["-c", "0"]) == 1)
    #expect(try threads([]) == ProcessInfo.processInfo.activeProcessorCount)
}
