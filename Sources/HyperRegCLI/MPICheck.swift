// `hyperreg mpi-check` (hidden): runs every collective of the run's communicator once on
// known data and writes what each rank saw, for Tests/CLITests/MPITransportTests.swift and
// for checking an MPI installation by hand; `--benchmark` times the ordered sum.

import ArgumentParser
import Foundation
import SparseCore
#if HYPERREG_MPI
import HyperRegMPI
#endif

/// `hyperreg mpi-check`: the transport's collectives on known data (not a user command).
struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Check the run's communicator: every collective once, each rank's results to --output-dir.",
        discussion: """
        Run under mpirun with the MPI build (HYPERREG_MPI=1). Each rank writes rank-<r>.json to
        --output-dir; exit status 1 when any check failed on any rank. --benchmark instead prints
        the time of the ordered sum (a scalar, d = 200 and 2000 values, a 200 x 200 triangle) per
        algorithm on rank 0.
        """,
        shouldDisplay: false
    )

    @Option(name: .long, help: "Write each rank's results to <dir>/rank-<r>.json.")
    var outputDir: String?

    @Option(name: .long, parsing: .unconditional, help: "Largest message per MPI call in bytes (small values exercise the transport's rounds).")
    var chunkBytes: Int?

    @Option(name: .long, parsing: .unconditional, help: "After the checks, this rank fails and every rank agrees on it (exit 1 with its message).")
    var failOnRank: Int?

    @Option(name: .long, parsing: .unconditional, help: "After the checks, this rank fails without agreement while the others wait in a barrier (the run is aborted).")
    var abortOnRank: Int?

    @Flag(name: .long, help: "Time the ordered sum of 1, 200, 2000 and 20100 values (a 200 x 200 triangle) instead of checking.")
    var benchmark = false

    @Option(name: .long, parsing: .unconditional, help: "Timed batches per benchmark figure (the median is printed).")
    var batches: Int = 7

    func validate() throws {
        if !benchmark && outputDir == nil { throw ValidationError("--output-dir is required unless --benchmark is given") }
        if let c = chunkBytes, c < 64 { throw ValidationError("--chunk-bytes must be >= 64") }
        if batches < 1 { throw ValidationError("--batches must be >= 1") }
    }

    func run() throws {
        let comm = communicator()
        if benchmark {
            benchmarkSums(comm)
            return
        }
        var report: [String: Any] = [
            "mpi_build": Distributed.isMPIBuild,
            "transport": comm.isDistributed ? "mpi" : "single-process",
            "rank": comm.rank,
            "size": comm.size,
        ]
        var failures: [String] = []
        runChecks(comm, into: &report, failures: &failures)
        report["failures"] = failures

        if let r = failOnRank {
            do {
                try Distributed.agreeing(comm) {
                    if comm.rank == r { throw CLIError("mpi-check: failure injected on rank \(r) of \(comm.size)") }
                }
            } catch let failure as RankFailure {
                // What this rank agreed on, for the test to compare across ranks.
                let note = "\(failure.exitCode)\n\(failure.originRank)\n\(failure.text)\n"
                try? Data(note.utf8).write(to: URL(fileURLWithPath: outputDir!).appendingPathComponent("agreed-\(comm.rank).txt"))
                throw failure
            }
        }
        if let r = abortOnRank {
            if comm.rank == r { throw CLIError("mpi-check: unagreed failure injected on rank \(r) of \(comm.size)") }
            comm.barrier()   // the other ranks wait here; only MPI_Abort can end them
        }

        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
        let url = URL(fileURLWithPath: outputDir!).appendingPathComponent("rank-\(comm.rank).json")
        do { try data.write(to: url, options: .atomic) } catch { throw CLIError("cannot write \(url.path): \(error.localizedDescription)") }
        let allPassed = comm.all(failures.isEmpty)
        if comm.rank == 0 {
            print("mpi-check: \(comm.size) rank(s), transport \(report["transport"]!), \(allPassed ? "all checks passed" : "checks FAILED (see rank-*.json)")")
        }
        // Every rank knows the verdict (comm.all), so every rank ends alike without MPI_Abort.
        if !allPassed { throw RankFailure(exitCode: 1, text: "Error: mpi-check: checks failed (see rank-*.json in \(outputDir!))", originRank: 0) }
    }

    /// The run's communicator, with `--chunk-bytes` applied (MPI build only).
    private func communicator() -> any Communicator {
        #if HYPERREG_MPI
        if let chunkBytes, MPIRuntime.startedWithSeveralRanks {
            // The run's own communicator first: the error paths (Distributed.exit) read it.
            _ = Distributed.communicator
            let mpi = MPICommunicator(maximumMessageBytes: chunkBytes)
            if mpi.size > 1 { return mpi }
        }
        #endif
        return Distributed.communicator
    }

    /// The ordered-sum algorithms to try: each of MPI's three and the automatic choice, or
    /// only the communicator's own sum.
    private func sumVariants(_ comm: any Communicator) -> [(name: String, set: () -> Void)] {
        #if HYPERREG_MPI
        if let mpi = comm as? MPICommunicator {
            return MPICommunicator.SumAlgorithm.allCases.map { a in (a.rawValue, { mpi.sumAlgorithm = a }) } + [("automatic", { mpi.sumAlgorithm = nil })]
        }
        #endif
        return [("automatic", {})]
    }

    private func runChecks(_ comm: any Communicator, into report: inout [String: Any], failures: inout [String]) {
        let rank = comm.rank, size = comm.size

        // Ordered sums: bits equal to the rank-order sum computed here from every rank's values.
        var sums: [String: [String: String]] = [:]
        for count in [1, 7, 20_100] {
            let expected = TransportCheckData.orderedSum(count: count, ranks: size)
            var byAlgorithm: [String: String] = [:]
            for variant in sumVariants(comm) {
                variant.set()
                var values = TransportCheckData.contribution(count: count, rank: rank)
                comm.sum(&values)
                byAlgorithm[variant.name] = TransportCheckData.hash(values)
                if values.map(\.bitPattern) != expected.map(\.bitPattern) { failures.append("sum \(count) \(variant.name)") }
            }
            sums["\(count)"] = byAlgorithm
        }
        sumVariants(comm).last!.set()
        report["sums"] = sums

        // Gathers with differing counts (rank 0 sends none).
        let doubles = comm.allGather(TransportCheckData.doubles(rank: rank))
        let ints = comm.allGather(TransportCheckData.ints(rank: rank))
        let bytes = comm.allGather(bytes: TransportCheckData.bytes(rank: rank))
        if doubles.count != size || (0 ..< size).contains(where: { doubles[$0].map(\.bitPattern) != TransportCheckData.doubles(rank: $0).map(\.bitPattern) }) { failures.append("allGather doubles") }
        if ints != (0 ..< size).map({ TransportCheckData.ints(rank: $0) }) { failures.append("allGather ints") }
        if bytes != (0 ..< size).map({ TransportCheckData.bytes(rank: $0) }) { failures.append("allGather bytes") }
        report["gathered_counts"] = ["doubles": doubles.map(\.count), "ints": ints.map(\.count), "bytes": bytes.map(\.count)]

        // Broadcasts from the last and the first rank; counts differ before the call.
        var fromLast = TransportCheckData.contribution(count: rank + 1, rank: rank)
        comm.broadcast(&fromLast, from: size - 1)
        var bytesFromFirst = TransportCheckData.bytes(rank: rank == 0 ? 9 : rank)
        comm.broadcast(bytes: &bytesFromFirst, from: 0)
        if fromLast.map(\.bitPattern) != TransportCheckData.contribution(count: size, rank: size - 1).map(\.bitPattern) { failures.append("broadcast doubles") }
        if bytesFromFirst != TransportCheckData.bytes(rank: 9) { failures.append("broadcast bytes") }
        report["broadcast_counts"] = ["doubles": fromLast.count, "bytes": bytesFromFirst.count]

        // All-to-all with differing (and zero) counts.
        let received = comm.exchange((0 ..< size).map { TransportCheckData.message(from: rank, to: $0) })
        if received != (0 ..< size).map({ TransportCheckData.message(from: $0, to: rank) }) { failures.append("exchange") }
        report["exchange_counts"] = received.map(\.count)

        // First error: none; every rank but 0; every rank.
        let none = comm.firstError(nil)
        let notZero = comm.firstError(rank == 0 ? nil : "message from rank \(rank)")
        let everyone = comm.firstError("message from rank \(rank)")
        report["first_error"] = [
            "none": none.map { "\($0.rank): \($0.message)" } ?? NSNull(),
            "all_but_rank_0": notZero.map { "\($0.rank): \($0.message)" } ?? NSNull(),
            "every_rank": everyone.map { "\($0.rank): \($0.message)" } ?? NSNull(),
        ] as [String: Any]
        if none != nil || everyone.map({ "\($0.rank): \($0.message)" }) != "0: message from rank 0"
            || notZero.map({ "\($0.rank): \($0.message)" }) != (size > 1 ? "1: message from rank 1" : nil) {
            failures.append("firstError")
        }

        // Integer helpers of the protocol extension.
        let total = comm.sum(rank + 1), largest = comm.maximum(3 * rank), allButOne = comm.all(rank != 1)
        report["integers"] = ["sum": total, "maximum": largest, "all": allButOne] as [String: Any]
        if total != size * (size + 1) / 2 || largest != 3 * (size - 1) || allButOne != (size == 1) { failures.append("integer helpers") }

        comm.barrier()

        // Traffic: two calls, this rank's contributions counted.
        let before = comm.traffic
        var triangle = TransportCheckData.contribution(count: 20_100, rank: rank)
        comm.sum(&triangle)
        _ = comm.allGather(bytes: TransportCheckData.bytes(rank: rank))
        let spent = comm.traffic.since(before)
        report["traffic"] = ["calls": spent.calls, "bytes_sent": spent.bytesSent, "seconds_positive": spent.seconds > 0] as [String: Any]
        if comm.isDistributed && (spent.calls != 2 || spent.bytesSent != 8 * 20_100 + TransportCheckData.bytes(rank: rank).count || !(spent.seconds > 0)) {
            failures.append("traffic")
        }
    }

    /// Median wall time of the ordered sum per algorithm (and MPI's unordered MPI_Allreduce
    /// beside it), the slowest rank's time per batch, printed by rank 0.
    private func benchmarkSums(_ comm: any Communicator) {
        var lines = ["values  ranks  algorithm        median_us  (slowest rank, median of \(batches) batches)"]
        var variants = sumVariants(comm).map { v in (v.name, { (x: inout [Double]) in v.set(); comm.sum(&x) }) }
        #if HYPERREG_MPI
        if let mpi = comm as? MPICommunicator { variants.append(("unordered_mpi", { (x: inout [Double]) in mpi.unorderedSum(&x) })) }
        #endif
        // Batches interleave the algorithms, so that the machine's load moves all alike.
        for count in [1, 200, 2000, 20_100] {
            let repetitions = max(100, 2000 / max(1, count / 100))
            let template = TransportCheckData.contribution(count: count, rank: comm.rank)
            var perBatch = [[Double]](repeating: [], count: variants.count)
            for (_, sum) in variants {
                for _ in 0 ..< 20 { var v = template; sum(&v) }   // warm-up (and connection set-up)
            }
            for _ in 0 ..< batches {
                for (i, (_, sum)) in variants.enumerated() {
                    comm.barrier()
                    let start = ContinuousClock.now
                    for _ in 0 ..< repetitions {
                        var values = template   // shares storage: the sum writes a new array
                        sum(&values)
                    }
                    let mine = secondsSince(start) / Double(repetitions)
                    perBatch[i].append(comm.allGather([mine]).map { $0[0] }.max()!)
                }
            }
            for (i, (name, _)) in variants.enumerated() {
                let sorted = perBatch[i].sorted()
                let padded = name.padding(toLength: 15, withPad: " ", startingAt: 0)
                lines.append(String(format: "%6d  %5d  ", count, comm.size) + padded + String(format: "  %9.1f", sorted[sorted.count / 2] * 1e6))
            }
        }
        sumVariants(comm).last!.set()
        if comm.rank == 0 { print(lines.joined(separator: "\n")) }
    }
}

/// The known data of `hyperreg mpi-check`: values depend only on (rank, index), so every rank
/// can compute what every other rank sends (Tests/CLITests/MPITransportTests.swift computes
/// the same values independently).
enum TransportCheckData {
    /// SplitMix64 of (stream, rank, index).
    static func mix(_ stream: UInt64, _ rank: Int, _ index: Int) -> UInt64 {
        var z = stream &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(rank) &* 0xBF58_476D_1CE4_E5B9 &+ UInt64(index) &* 0x94D0_49BB_1331_11EB
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [-1, 1) times 2^k, k in -26 ... 26 (magnitudes spread so that the order of
    /// the additions shows in the bits).
    static func value(_ stream: UInt64, _ rank: Int, _ index: Int) -> Double {
        let z = mix(stream, rank, index)
        let unit = Double(z >> 11) * 0x1p-52 - 1
        return unit * Double(sign: .plus, exponent: Int(z & 63) % 53 - 26, significand: 1)
    }

    /// Rank `rank`'s contribution of `count` values to an ordered sum.
    static func contribution(count: Int, rank: Int) -> [Double] { (0 ..< count).map { value(1, rank, $0) } }

    /// The rank-order sum `((c0 + c1) + c2) + ...` of `ranks` contributions.
    static func orderedSum(count: Int, ranks: Int) -> [Double] {
        var total = contribution(count: count, rank: 0)
        for r in 1 ..< max(1, ranks) {
            let c = contribution(count: count, rank: r)
            for j in 0 ..< count { total[j] += c[j] }
        }
        return total
    }

    /// How many values rank `rank` gathers: 0, 5, 3, 1, 6, 4, 2, 0, ...
    static func gatherCount(rank: Int) -> Int { (rank * 5) % 7 }
    /// Rank `rank`'s doubles for the gather.
    static func doubles(rank: Int) -> [Double] { (0 ..< gatherCount(rank: rank)).map { value(2, rank, $0) } }
    /// Rank `rank`'s integers for the gather.
    static func ints(rank: Int) -> [Int] { (0 ..< gatherCount(rank: rank)).map { Int(truncatingIfNeeded: mix(3, rank, $0)) } }
    /// Rank `rank`'s bytes for the gather (100 per gathered value).
    static func bytes(rank: Int) -> [UInt8] { (0 ..< 100 * gatherCount(rank: rank)).map { UInt8(truncatingIfNeeded: mix(4, rank, $0)) } }
    /// What rank `from` sends to rank `to` in the exchange: `((3 from + to) % 5) * 37` bytes.
    static func message(from: Int, to: Int) -> [UInt8] {
        (0 ..< ((3 * from + to) % 5) * 37).map { UInt8(truncatingIfNeeded: mix(5 &+ UInt64(to) << 32, from, $0)) }
    }

    /// FNV-1a (64-bit) of the values' bit patterns, as 16 hex digits.
    static func hash(_ values: [Double]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for v in values {
            var bits = v.bitPattern
            for _ in 0 ..< 8 {
                h = (h ^ (bits & 0xFF)) &* 0x0000_0100_0000_01B3
                bits >>= 8
            }
        }
        return String(h, radix: 16).leftPadded(to: 16)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
