// An in-process stand-in for MPI: K "ranks" as K threads of one process, sharing memory,
// with the collectives of `Communicator`. It lets the tests check a row-partitioned solve
// (1, 2, 4 ranks, same answer) on any machine, without mpirun; the MPI implementation is
// checked separately under mpirun.

import Foundation
import SparseCore

/// K communicators over shared memory, one per rank; `run` starts one thread per rank.
public final class ThreadGroup: @unchecked Sendable {
    /// The number of ranks.
    public let size: Int
    private let condition = NSCondition()
    private var slots: [Any?]
    private var arrived = 0
    private var generation = 0

    /// A group of `size` ranks.
    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
        slots = Array(repeating: nil, count: size)
    }

    /// Runs `body(communicator)` for every rank on its own thread (real threads, so that K
    /// ranks run at once even on fewer cores) and returns the results indexed by rank.
    public static func run<R: Sendable>(ranks: Int, _ body: @escaping @Sendable (any Communicator) throws -> R) rethrows -> [R] {
        let group = ThreadGroup(size: ranks)
        let results = Box<[Result<R, any Error>?]>(Array(repeating: nil, count: ranks))
        let done = DispatchGroup()
        for r in 0 ..< ranks {
            done.enter()
            let comm = ThreadGroupCommunicator(group: group, rank: r)
            let thread = Thread {
                let outcome = Result { try body(comm) }
                group.condition.lock()
                results.value[r] = outcome
                group.condition.unlock()
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return try results.value.map { try $0!.get() }
    }

    /// Seconds a rank waits in a collective for the others before the group stops the process
    /// with a message: ranks that call different collectives (a bug: a reduction one rank skips)
    /// would otherwise wait forever.
    public static let patience = 120.0

    /// Deposits `value` for `rank`, waits for every rank, and returns all deposits in rank
    /// order (a second barrier keeps the slots until every rank has read them).
    func collect(_ value: Any, rank: Int) -> [Any] {
        condition.lock()
        defer { condition.unlock() }
        slots[rank] = value
        waitForEveryRank(rank)
        let all = slots.map { $0! }
        // Second phase: nobody overwrites a slot before every rank has copied it.
        waitForEveryRank(rank)
        return all
    }

    /// A barrier on `condition` (held by the caller): the last rank to arrive wakes the others.
    private func waitForEveryRank(_ rank: Int) {
        arrived += 1
        let myGeneration = generation
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        let deadline = Date(timeIntervalSinceNow: Self.patience)
        while generation == myGeneration {
            if !condition.wait(until: deadline) && generation == myGeneration {
                fatalError("ThreadGroup: rank \(rank) waited \(Self.patience) s in a collective for the other ranks: they called different collectives (a reduction one rank skipped, or a rank that stopped early)")
            }
        }
    }
}

private final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// One rank of a `ThreadGroup`.
public final class ThreadGroupCommunicator: Communicator, @unchecked Sendable {
    private let group: ThreadGroup
    public let rank: Int
    public var size: Int { group.size }
    private var counters = CommunicationTraffic()

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    private func collect<T>(_ value: T, bytes: Int) -> [T] {
        let start = Date()
        let all = group.collect(value, rank: rank).map { deposit -> T in
            guard let typed = deposit as? T else {
                fatalError("ThreadGroup: rank \(rank) called a collective of \(T.self) while another rank called one of \(type(of: deposit)): the ranks diverged")
            }
            return typed
        }
        counters.calls += 1
        counters.bytesSent += bytes
        counters.seconds += Date().timeIntervalSince(start)
        return all
    }

    public func sum(_ values: inout [Double]) {
        let all = collect(values, bytes: 8 * values.count)
        precondition(all.allSatisfy { $0.count == values.count }, "sum: counts differ between ranks")
        var total = all[0]
        for r in 1 ..< all.count { for j in 0 ..< total.count { total[j] += all[r][j] } }
        values = total
    }
    public func allGather(_ values: [Double]) -> [[Double]] { collect(values, bytes: 8 * values.count) }
    public func allGather(_ values: [Int]) -> [[Int]] { collect(values, bytes: 8 * values.count) }
    public func allGather(bytes: [UInt8]) -> [[UInt8]] { collect(bytes, bytes: bytes.count) }
    public func broadcast(_ values: inout [Double], from root: Int) {
        values = collect(values, bytes: rank == root ? 8 * values.count : 0)[root]
    }
    public func broadcast(bytes: inout [UInt8], from root: Int) {
        bytes = collect(bytes, bytes: rank == root ? bytes.count : 0)[root]
    }
    public func exchange(_ outgoing: [[UInt8]]) -> [[UInt8]] {
        precondition(outgoing.count == size)
        let all = collect(outgoing, bytes: outgoing.reduce(0) { $0 + $1.count })
        return all.map { $0[rank] }
    }
    public func barrier() { _ = collect(0, bytes: 0) }
    public var traffic: CommunicationTraffic { counters }
}
