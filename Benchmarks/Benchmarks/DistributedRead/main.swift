// Wall time of the distributed Matrix Market reader (issue 17, docs/scale-out-reading.md):
// one file read by K = 1, 2, 4 ranks run as threads of this process (ThreadGroup, a real
// Communicator over shared memory), against the whole-file reader, the variants interleaved,
// RUNS times each; prints the median and smallest wall seconds and each rank's traffic.
//
//   cd Benchmarks && swift run -c release DistributedRead FILE [RUNS] [THREADS-PER-RANK] [ONLY]
//
// ONLY (`whole` or a rank count) runs that variant alone, once, without the warm-up read of
// the whole-file reader, so that `/usr/bin/time -v` reports its peak resident memory (all
// ranks of a ThreadGroup share one process: the sum of the ranks' peaks, about).
//
// Each rank's reader uses THREADS-PER-RANK threads (default: the machine's cores / K, at least
// 1, so that K ranks never ask for more threads than cores, as `mpirun` with one rank per core
// would be set up; the whole-file reader uses all cores). The file is read once before timing
// (warm page cache). Every distributed result is checked against the whole-file matrix (row
// counts, entries), so a wrong read cannot pass for a fast one.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import SparseCore

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: DistributedRead FILE [RUNS] [THREADS-PER-RANK]\n".utf8))
    exit(64)
}
let path = arguments[1]
let runs = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let fixedThreads = arguments.count > 3 ? Int(arguments[3]) : nil
let only = arguments.count > 4 ? arguments[4] : nil
let cores = ProcessInfo.processInfo.activeProcessorCount

func now() -> Double { Date().timeIntervalSinceReferenceDate }
func threads(_ ranks: Int) -> Int { fixedThreads ?? max(1, cores / ranks) }

// Warm the page cache.
if let handle = FileHandle(forReadingAtPath: path) {
    while let chunk = try? handle.read(upToCount: 64 << 20), !chunk.isEmpty {}
}

if let only {
    let t0 = now()
    if only == "whole" {
        let a = try Parallelism.withThreadCount(fixedThreads ?? cores) { try MatrixMarket.readMatrix(from: path).matrix }.result
        print("whole-file reader: \(a.nonzeroCount) entries, \(String(format: "%.3f", now() - t0)) s")
    } else if let k = Int(only), k >= 1 {
        let perRank = threads(k)
        let counts = ThreadGroup.run(ranks: k) { comm in
            Parallelism.withThreadCount(perRank) { (try? MatrixMarket.readMatrixBlock(from: path, communicator: comm))?.matrix.nonzeroCount ?? -1 }.result
        }
        print("\(k) ranks x \(perRank) threads: entries per rank \(counts), \(String(format: "%.3f", now() - t0)) s")
    }
    exit(0)
}

let whole = try Parallelism.withThreadCount(cores) { try MatrixMarket.readMatrix(from: path).matrix }.result
let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
print("\(path): \(whole.rowCount) x \(whole.columnCount), \(whole.nonzeroCount) entries, \(fileBytes / 1_000_000) MB; \(cores) cores, \(runs) runs")

final class Totals: @unchecked Sendable {
    var bytes = [Int](), seconds = [Double]()
}

var walls: [String: [Double]] = [:]
var traffic: [Int: Totals] = [:]
let rankCounts = [1, 2, 4]
for _ in 0 ..< runs {
    var t0 = now()
    let again = try Parallelism.withThreadCount(cores) { try MatrixMarket.readMatrix(from: path).matrix }.result
    walls["whole-file reader, \(cores) threads", default: []].append(now() - t0)
    precondition(again.nonzeroCount == whole.nonzeroCount)
    for k in rankCounts {
        let perRank = threads(k)
        let totals = Totals()
        t0 = now()
        let blocks = ThreadGroup.run(ranks: k) { comm -> (MatrixBlock?, CommunicationTraffic) in
            let block = Parallelism.withThreadCount(perRank) { try? MatrixMarket.readMatrixBlock(from: path, communicator: comm) }.result
            return (block, comm.traffic)
        }
        walls["\(k) rank\(k == 1 ? "" : "s") x \(perRank) thread\(perRank == 1 ? "" : "s")", default: []].append(now() - t0)
        precondition(blocks.allSatisfy { $0.0 != nil }, "a rank failed")
        precondition(blocks.reduce(0) { $0 + $1.0!.matrix.rowCount } == whole.rowCount)
        precondition(blocks.reduce(0) { $0 + $1.0!.matrix.nonzeroCount } == whole.nonzeroCount)
        totals.bytes = blocks.map { $0.1.bytesSent }
        totals.seconds = blocks.map { $0.1.seconds }
        traffic[k] = totals
    }
}

print("| reader | median wall s | smallest wall s | MB/s (median) |")
print("|---|---|---|---|")
for (name, times) in walls.sorted(by: { $0.key < $1.key }) {
    let sorted = times.sorted()
    let median = sorted[sorted.count / 2]
    print("| \(name) | \(String(format: "%.3f", median)) | \(String(format: "%.3f", sorted[0])) | \(Int(Double(fileBytes) / 1e6 / median)) |")
}
for k in rankCounts {
    guard let t = traffic[k] else { continue }
    let mb = t.bytes.map { String(format: "%.0f", Double($0) / 1e6) }.joined(separator: ", ")
    let s = t.seconds.map { String(format: "%.3f", $0) }.joined(separator: ", ")
    print("\(k) ranks (last run): MB sent per rank \(mb); seconds in collectives per rank \(s)")
}
