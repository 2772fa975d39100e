// The collectives of `Communicator` over Open MPI (see MPIRuntime.swift for the module).

import CMPI
import SparseCore
#if canImport(Glibc)
import Glibc
#endif

/// A `Communicator` over MPI: every process of the run (a duplicate of MPI_COMM_WORLD, so
/// hyperreg's messages never meet another library's).
///
/// Ordered sums give every rank the same bits, the contributions added in rank order
/// `((r0 + r1) + r2) + ...` element by element, exactly as `ThreadGroupCommunicator` adds
/// them (MPI_Allreduce promises neither order nor equal bits). See `SumAlgorithm` for how.
///
/// Message sizes: MPI counts are 32-bit, so every collective moves its data in rounds of at
/// most `maximumMessageBytes` bytes per call (2 GiB by default; a sum's K contributions count
/// together, so a d = 2000 triangle, 16 MB, is one round up to 134 ranks). Calls must come
/// from one thread at a time and in the same order on every rank (they are collectives). A
/// failed MPI call is reported on standard error and aborts the run (`MPIRuntime.check`).
public final class MPICommunicator: Communicator, @unchecked Sendable {
    /// How an ordered sum moves the contributions. All three add in rank order, element by
    /// element, starting from rank 0's value, so they give the same bits; they differ only
    /// in cost.
    public enum SumAlgorithm: String, Sendable, CaseIterable {
        /// `MPI_Allgather` of every contribution, then every rank adds all K of them: one
        /// call, but every rank receives K x the vector and does K - 1 additions per element.
        case allGather
        /// `MPI_Gather` to rank 0, rank 0 adds in rank order, `MPI_Bcast` of the sum: two
        /// calls; rank 0 receives K x the vector.
        case gatherBroadcast
        /// Ordered reduce-scatter then gather: the vector is cut into K segments, rank j
        /// receives every rank's segment j (`MPI_Alltoallv`), adds them in rank order, and
        /// `MPI_Allgatherv` assembles the sums: two calls, each rank moves about 2 x the
        /// vector whatever K is.
        case reduceScatter
    }

    /// This process's rank.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    /// The largest message one MPI call moves, in bytes (at most `Int32.max`); larger data
    /// goes in several rounds.
    public let maximumMessageBytes: Int
    /// Forces one algorithm for every ordered sum (benchmarks, tests); nil: `automaticSumAlgorithm`.
    public var sumAlgorithm: SumAlgorithm?

    /// Below this many values an ordered sum is latency-bound and uses `allGather`.
    public static let largeSumThreshold = 1024
    fileprivate let communicator: MPI_Comm
    private var counters = CommunicationTraffic()

    /// The communicator of all ranks of the run. Initialises MPI if needed
    /// (`MPIRuntime.initialize()`) and duplicates MPI_COMM_WORLD (collective: every rank
    /// must create it at the same point).
    public init(maximumMessageBytes: Int = Int(Int32.max)) {
        precondition(MemoryLayout<Int>.size == 8, "hyperreg's MPI transport sends Int as 64-bit integers")
        MPIRuntime.initialize()
        var duplicate: MPI_Comm? = nil
        MPIRuntime.check(MPI_Comm_dup(CMPI_COMM_WORLD(), &duplicate), "MPI_Comm_dup")
        guard let duplicate else { MPIRuntime.fail("MPI_Comm_dup returned no communicator") }
        MPIRuntime.check(MPI_Comm_set_errhandler(duplicate, CMPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        MPIRuntime.check(MPI_Comm_rank(duplicate, &r), "MPI_Comm_rank")
        MPIRuntime.check(MPI_Comm_size(duplicate, &s), "MPI_Comm_size")
        communicator = duplicate
        rank = Int(r)
        size = Int(s)
        self.maximumMessageBytes = max(64, min(maximumMessageBytes, Int(Int32.max)))
    }

    /// The algorithm an ordered sum of `count` values over `ranks` ranks uses when
    /// `sumAlgorithm` is nil.
    ///
    /// Measured here (Open MPI 4.1.4, shared memory, 2 cores, so 4 ranks share them:
    /// `scripts/bench/mpi-transport.sh`, figures in docs/scale-out-transport.md):
    /// * a scalar or a d-vector (1, 200 values) costs about one latency; `allGather`, one
    ///   call, was the fastest or tied on 2 and 4 ranks;
    /// * on 2 ranks `allGather` was the fastest or tied at every size, the 200 x 200
    ///   triangle (20 100 values) included: each rank receives one vector whichever way,
    ///   and `allGather` needs one call;
    /// * on 4 ranks, from 2000 values, `allGather` was the slowest (each rank receives and
    ///   adds 4 vectors: 1.5-2x for the triangle); `gatherBroadcast` and `reduceScatter`
    ///   were within the machine's noise of each other, each the faster in some runs.
    /// The tie is broken by the model, for the clusters the transport is for: the root of
    /// `gatherBroadcast` receives K - 1 vectors, while `reduceScatter` moves about 2
    /// vectors per rank whatever K is.
    public static func automaticSumAlgorithm(count: Int, ranks: Int) -> SumAlgorithm {
        count < largeSumThreshold || ranks <= 2 ? .allGather : .reduceScatter
    }

    public var traffic: CommunicationTraffic { counters }

    // MARK: Collectives

    public func sum(_ values: inout [Double]) {
        let start = monotonicSeconds()
        defer { account(bytes: 8 * values.count, since: start) }
        guard size > 1 else { return }
        #if DEBUG
        // One more collective per sum: debug builds only (the release solve's sums are all
        // of the same d or d x d size on every rank by construction).
        checkSameCount(values.count, "sum")
        #endif
        let algorithm = sumAlgorithm ?? Self.automaticSumAlgorithm(count: values.count, ranks: size)
        // Pieces small enough that K of them fit in one message (one piece in practice).
        let piece = max(1, maximumMessageBytes / 8 / size)
        if values.count <= piece {
            values = orderedSum(values, algorithm)
            return
        }
        var offset = 0
        while offset < values.count {
            let end = min(values.count, offset + piece)
            values.replaceSubrange(offset ..< end, with: orderedSum(Array(values[offset ..< end]), algorithm))
            offset = end
        }
    }

    public func allGather(_ values: [Double]) -> [[Double]] {
        let start = monotonicSeconds()
        defer { account(bytes: 8 * values.count, since: start) }
        return gatherAll(values, type: CMPI_DOUBLE())
    }

    public func allGather(_ values: [Int]) -> [[Int]] {
        let start = monotonicSeconds()
        defer { account(bytes: 8 * values.count, since: start) }
        return gatherAll(values, type: CMPI_INT64_T())
    }

    public func allGather(bytes: [UInt8]) -> [[UInt8]] {
        let start = monotonicSeconds()
        defer { account(bytes: bytes.count, since: start) }
        return gatherAll(bytes, type: CMPI_BYTE())
    }

    public func broadcast(_ values: inout [Double], from root: Int) {
        let start = monotonicSeconds()
        let sent = rank == root ? 8 * values.count : 0
        defer { account(bytes: sent, since: start) }
        broadcastAll(&values, from: root, type: CMPI_DOUBLE())
    }

    public func broadcast(bytes: inout [UInt8], from root: Int) {
        let start = monotonicSeconds()
        let sent = rank == root ? bytes.count : 0
        defer { account(bytes: sent, since: start) }
        broadcastAll(&bytes, from: root, type: CMPI_BYTE())
    }

    public func exchange(_ outgoing: [[UInt8]]) -> [[UInt8]] {
        let start = monotonicSeconds()
        let sent = outgoing.reduce(0) { $0 + $1.count }
        defer { account(bytes: sent, since: start) }
        guard outgoing.count == size else {
            MPIRuntime.fail("exchange needs one outgoing array per rank (\(size)), got \(outgoing.count)")
        }
        // What each rank sends to this one.
        var outCounts = outgoing.map { Int64($0.count) }
        var inCounts = [Int64](repeating: 0, count: size)
        MPIRuntime.check(MPI_Alltoall(&outCounts, 1, CMPI_INT64_T(), &inCounts, 1, CMPI_INT64_T(), communicator), "MPI_Alltoall (exchange counts)")
        // Every rank must make the same number of rounds: agree on the largest message.
        var largest = [max(outCounts.max() ?? 0, inCounts.max() ?? 0)]
        var agreed: [Int64] = [0]
        MPIRuntime.check(MPI_Allreduce(&largest, &agreed, 1, CMPI_INT64_T(), CMPI_MAX(), communicator), "MPI_Allreduce (exchange rounds)")
        let perPair = max(1, maximumMessageBytes / size)   // K pieces of this fit in one message
        let rounds = agreed[0] == 0 ? 1 : (Int(agreed[0]) + perPair - 1) / perPair
        var incoming = inCounts.map { [UInt8](repeating: 0, count: Int($0)) }
        for round in 0 ..< rounds {
            let lo = round * perPair
            let sendCounts = outgoing.map { clampedCount($0.count - lo, perPair) }
            let recvCounts = inCounts.map { clampedCount(Int($0) - lo, perPair) }
            var sendBuffer = [UInt8]()   // the round's pieces, rank after rank
            sendBuffer.reserveCapacity(sendCounts.reduce(0, +))
            for (r, piece) in outgoing.enumerated() where sendCounts[r] > 0 {
                sendBuffer.append(contentsOf: piece[lo ..< lo + sendCounts[r]])
            }
            var recvBuffer = [UInt8](repeating: 0, count: recvCounts.reduce(0, +))
            let sc = sendCounts.map { Int32($0) }, sd = displacements(sendCounts)
            let rc = recvCounts.map { Int32($0) }, rd = displacements(recvCounts)
            withSendBase(sendBuffer) { send in
                withBase(&recvBuffer) { recv in
                    MPIRuntime.check(MPI_Alltoallv(send, sc, sd, CMPI_BYTE(), recv, rc, rd, CMPI_BYTE(), communicator), "MPI_Alltoallv (exchange)")
                }
            }
            for r in 0 ..< size where recvCounts[r] > 0 {
                let from = Int(rd[r])
                incoming[r].replaceSubrange(lo ..< lo + recvCounts[r], with: recvBuffer[from ..< from + recvCounts[r]])
            }
        }
        return incoming
    }

    public func barrier() {
        let start = monotonicSeconds()
        defer { account(bytes: 0, since: start) }
        MPIRuntime.check(MPI_Barrier(communicator), "MPI_Barrier")
    }

    // MARK: Ordered sums

    private func orderedSum(_ part: [Double], _ algorithm: SumAlgorithm) -> [Double] {
        switch algorithm {
        case .allGather: return orderedSumByAllGather(part)
        case .gatherBroadcast: return orderedSumByGatherBroadcast(part)
        case .reduceScatter: return orderedSumByReduceScatter(part)
        }
    }

    /// Every rank receives all contributions and adds them in rank order.
    private func orderedSumByAllGather(_ part: [Double]) -> [Double] {
        let count = part.count
        var all = [Double](repeating: 0, count: count * size)
        withSendBase(part) { send in
            withBase(&all) { recv in
                MPIRuntime.check(MPI_Allgather(send, Int32(count), CMPI_DOUBLE(), recv, Int32(count), CMPI_DOUBLE(), communicator), "MPI_Allgather (sum)")
            }
        }
        return addInRankOrder(all, count: count)
    }

    /// Rank 0 gathers, adds in rank order and broadcasts the sum.
    private func orderedSumByGatherBroadcast(_ part: [Double]) -> [Double] {
        let count = part.count
        var all = [Double](repeating: 0, count: rank == 0 ? count * size : 1)
        withSendBase(part) { send in
            withBase(&all) { recv in
                MPIRuntime.check(MPI_Gather(send, Int32(count), CMPI_DOUBLE(), recv, Int32(count), CMPI_DOUBLE(), 0, communicator), "MPI_Gather (sum)")
            }
        }
        var total = rank == 0 ? addInRankOrder(all, count: count) : [Double](repeating: 0, count: count)
        withBase(&total) { buffer in
            MPIRuntime.check(MPI_Bcast(buffer, Int32(count), CMPI_DOUBLE(), 0, communicator), "MPI_Bcast (sum)")
        }
        return total
    }

    /// Rank j adds segment j of every contribution in rank order; the sums are gathered.
    private func orderedSumByReduceScatter(_ part: [Double]) -> [Double] {
        let count = part.count
        let segments = (0 ..< size).map { RowDistribution.block(rows: count, ranks: size, rank: $0) }
        let mine = segments[rank].count
        var pieces = [Double](repeating: 0, count: mine * size)
        let sc = segments.map { Int32($0.count) }, sd = segments.map { Int32($0.lowerBound) }
        let rc = [Int32](repeating: Int32(mine), count: size), rd = (0 ..< size).map { Int32($0 * mine) }
        withSendBase(part) { send in
            withBase(&pieces) { recv in
                MPIRuntime.check(MPI_Alltoallv(send, sc, sd, CMPI_DOUBLE(), recv, rc, rd, CMPI_DOUBLE(), communicator), "MPI_Alltoallv (sum)")
            }
        }
        let segmentSum = addInRankOrder(pieces, count: mine)
        var total = [Double](repeating: 0, count: count)
        withSendBase(segmentSum) { send in
            withBase(&total) { recv in
                MPIRuntime.check(MPI_Allgatherv(send, Int32(mine), CMPI_DOUBLE(), recv, sc, sd, CMPI_DOUBLE(), communicator), "MPI_Allgatherv (sum)")
            }
        }
        return total
    }

    /// `all` holds `size` contributions of `count` values, rank after rank; returns their
    /// element-wise sum `((c0 + c1) + c2) + ...` (starting from c0 itself, so a lone -0.0
    /// stays -0.0, as in `ThreadGroupCommunicator`).
    private func addInRankOrder(_ all: [Double], count: Int) -> [Double] {
        var total = Array(all[0 ..< count])
        total.withUnsafeMutableBufferPointer { t in
            all.withUnsafeBufferPointer { a in
                for r in 1 ..< size {
                    let base = r * count
                    for j in 0 ..< count { t[j] += a[base + j] }
                }
            }
        }
        return total
    }

    // MARK: Gathers and broadcasts of any count

    /// Every rank's `values` (counts may differ), in rounds of at most `maximumMessageBytes`.
    private func gatherAll<T: BitwiseCopyable>(_ values: [T], type: MPI_Datatype) -> [[T]] {
        var myCount = [Int64(values.count)]
        var counts = [Int64](repeating: 0, count: size)
        MPIRuntime.check(MPI_Allgather(&myCount, 1, CMPI_INT64_T(), &counts, 1, CMPI_INT64_T(), communicator), "MPI_Allgather (counts)")
        let perRank = max(1, maximumMessageBytes / max(1, MemoryLayout<T>.stride) / size)
        let largest = Int(counts.max() ?? 0)
        let rounds = largest == 0 ? 1 : (largest + perRank - 1) / perRank
        var result = counts.map { [T](unsafeUninitializedCapacity: Int($0)) { _, n in n = 0 } }
        for round in 0 ..< rounds {
            let lo = round * perRank
            let roundCounts = counts.map { clampedCount(Int($0) - lo, perRank) }
            let rc = roundCounts.map { Int32($0) }, rd = displacements(roundCounts)
            let total = roundCounts.reduce(0, +)
            var recv = [T](unsafeUninitializedCapacity: max(1, total)) { _, n in n = max(1, total) }
            withSendBase(values, offset: lo, count: roundCounts[rank]) { send in
                withBase(&recv) { r in
                    MPIRuntime.check(MPI_Allgatherv(send, rc[rank], type, r, rc, rd, type, communicator), "MPI_Allgatherv")
                }
            }
            for r in 0 ..< size where roundCounts[r] > 0 {
                let from = Int(rd[r])
                result[r].append(contentsOf: recv[from ..< from + roundCounts[r]])
            }
        }
        return result
    }

    /// Replaces `values` by `root`'s (counts may differ before the call), in rounds.
    private func broadcastAll<T: BitwiseCopyable>(_ values: inout [T], from root: Int, type: MPI_Datatype) {
        guard root >= 0, root < size else { MPIRuntime.fail("broadcast from rank \(root), but the run has \(size) ranks") }
        var count = [Int64(values.count)]
        MPIRuntime.check(MPI_Bcast(&count, 1, CMPI_INT64_T(), Int32(root), communicator), "MPI_Bcast (count)")
        let n = Int(count[0])
        if rank != root {
            values = [T](unsafeUninitializedCapacity: n) { _, initialized in initialized = n }
        }
        let perCall = max(1, maximumMessageBytes / max(1, MemoryLayout<T>.stride))
        var lo = 0
        while lo < n {
            let piece = min(perCall, n - lo)
            withBase(&values, offset: lo, count: piece) { buffer in
                MPIRuntime.check(MPI_Bcast(buffer, Int32(piece), type, Int32(root), communicator), "MPI_Bcast")
            }
            lo += piece
        }
    }

    // MARK: Helpers

    /// Stops the run when ranks pass different counts to an ordered sum (a caller's bug that
    /// MPI would turn into a truncation error or silent garbage).
    private func checkSameCount(_ count: Int, _ operation: String) {
        var local = [Int64(count), -Int64(count)]
        var extremes: [Int64] = [0, 0]
        MPIRuntime.check(MPI_Allreduce(&local, &extremes, 2, CMPI_INT64_T(), CMPI_MAX(), communicator), "MPI_Allreduce (\(operation) counts)")
        if extremes[0] != -extremes[1] {
            MPIRuntime.fail("\(operation): ranks pass different counts (from \(-extremes[1]) to \(extremes[0]) values)")
        }
    }

    fileprivate func account(bytes: Int, since start: Double) {
        counters.calls += 1
        counters.bytesSent += bytes
        counters.seconds += monotonicSeconds() - start
    }
}

/// `min(max(0, remaining), limit)`: the part of a count that goes in one round.
private func clampedCount(_ remaining: Int, _ limit: Int) -> Int { min(max(0, remaining), limit) }

/// Prefix sums of `counts` as MPI displacements (each round's total fits in Int32 by construction).
private func displacements(_ counts: [Int]) -> [Int32] {
    var result = [Int32](), running = 0
    result.reserveCapacity(counts.count)
    for c in counts {
        result.append(Int32(running))
        running += c
    }
    return result
}

/// Calls `body` with the address of `array[offset]` (`count` elements there), never nil:
/// an empty range gets the address of a scratch element, since some MPI paths reject NULL.
private func withBase<T>(_ array: inout [T], offset: Int = 0, count: Int? = nil, _ body: (UnsafeMutableRawPointer) -> Void) {
    let n = count ?? array.count - offset
    if n > 0 {
        array.withUnsafeMutableBufferPointer { body(UnsafeMutableRawPointer($0.baseAddress! + offset)) }
    } else {
        var scratch: UInt64 = 0
        withUnsafeMutableBytes(of: &scratch) { body($0.baseAddress!) }
    }
}

/// Calls `body` with the address of `array[offset]` (`count` elements there) for reading
/// (an MPI send buffer: no copy of a shared array), never nil, as `withBase`.
private func withSendBase<T>(_ array: [T], offset: Int = 0, count: Int? = nil, _ body: (UnsafeRawPointer) -> Void) {
    let n = count ?? array.count - offset
    if n > 0 {
        array.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress! + offset)) }
    } else {
        var scratch: UInt64 = 0
        withUnsafeBytes(of: &scratch) { body($0.baseAddress!) }
    }
}

/// Seconds of the monotonic clock (CLOCK_MONOTONIC).
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

extension MPICommunicator {
    /// `MPI_Allreduce` with `MPI_SUM`: MPI's own sum, in an order MPI chooses (not
    /// reproducible bit for bit). Only for benchmarks that show what the ordered `sum` costs
    /// beside it; the solver never calls it.
    public func unorderedSum(_ values: inout [Double]) {
        let start = monotonicSeconds()
        defer { account(bytes: 8 * values.count, since: start) }
        guard size > 1 else { return }
        var total = [Double](repeating: 0, count: values.count)   // a new array, as `sum` writes
        let count = Int32(values.count)
        withSendBase(values) { send in
            withBase(&total) { recv in
                MPIRuntime.check(MPI_Allreduce(send, recv, count, CMPI_DOUBLE(), CMPI_SUM(), communicator), "MPI_Allreduce")
            }
        }
        values = total
    }
}
