// The communicator seam for row-partitioned (MPI) runs (docs/scale-out.md).
//
// A distributed run splits A by rows: rank r holds the contiguous row block
// `rowOffset ..< rowOffset + rowCount` of the n global rows, with its slices of b and w.
// Every pass over A is a local sweep over that block plus a small combine step; the
// combine goes through a `Communicator`. The default build and every plain run use
// `SingleProcess`, whose combine steps do nothing, so a plain run has exactly the bits it
// had before the seam existed. The MPI implementation lives in its own module
// (HyperRegMPI, built with `HYPERREG_MPI=1`).

/// The collective operations a row-partitioned solve needs. Every rank calls every
/// operation in the same order (they are collectives); each call blocks until the data
/// it returns is complete.
///
/// Sums are *ordered*: every rank receives the same bits, the contributions added in rank
/// order `((r0 + r1) + r2) + ...` element by element, so a run is repeatable for a given
/// number of ranks (MPI's own `MPI_Allreduce` promises neither).
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, `0 ..< size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Replaces `values` (the same count on every rank) by their element-wise sum over the
    /// ranks, added in rank order; every rank receives the same bits.
    func sum(_ values: inout [Double])
    /// Every rank's `values` (counts may differ), indexed by rank.
    func allGather(_ values: [Double]) -> [[Double]]
    /// Every rank's `values` (counts may differ), indexed by rank.
    func allGather(_ values: [Int]) -> [[Int]]
    /// Every rank's bytes (counts may differ), indexed by rank.
    func allGather(bytes: [UInt8]) -> [[UInt8]]
    /// Replaces `values` by rank `root`'s on every rank (counts may differ before the call).
    func broadcast(_ values: inout [Double], from root: Int)
    /// Replaces `bytes` by rank `root`'s on every rank (counts may differ before the call).
    func broadcast(bytes: inout [UInt8], from root: Int)
    /// All-to-all: `outgoing[r]` goes to rank r; returns what each rank sent to this one,
    /// indexed by sender. `outgoing.count == size`.
    func exchange(_ outgoing: [[UInt8]]) -> [[UInt8]]
    /// Returns when every rank has called it.
    func barrier()
    /// Bytes this rank has sent and seconds it has spent in collectives so far.
    var traffic: CommunicationTraffic { get }
}

/// What a rank has spent on communication: for the report's per-iteration figures
/// (differences of two readings).
public struct CommunicationTraffic: Sendable, Equatable {
    /// Collective calls made.
    public var calls: Int
    /// Bytes this rank sent (its contributions; what it receives is not counted).
    public var bytesSent: Int
    /// Wall seconds spent inside collectives, including waiting for slower ranks.
    public var seconds: Double

    /// Creates a reading.
    public init(calls: Int = 0, bytesSent: Int = 0, seconds: Double = 0) {
        self.calls = calls
        self.bytesSent = bytesSent
        self.seconds = seconds
    }

    /// `self - earlier`, field by field.
    public func since(_ earlier: CommunicationTraffic) -> CommunicationTraffic {
        CommunicationTraffic(calls: calls - earlier.calls, bytesSent: bytesSent - earlier.bytesSent, seconds: seconds - earlier.seconds)
    }
}

/// The communicator of a run on one process: one rank, every collective a no-op (a sum of
/// one contribution is that contribution, bit for bit).
public final class SingleProcess: Communicator {
    /// The shared instance (it has no state).
    public static let shared = SingleProcess()

    /// Creates a single-process communicator.
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: inout [Double]) {}
    public func allGather(_ values: [Double]) -> [[Double]] { [values] }
    public func allGather(_ values: [Int]) -> [[Int]] { [values] }
    public func allGather(bytes: [UInt8]) -> [[UInt8]] { [bytes] }
    public func broadcast(_ values: inout [Double], from root: Int) { precondition(root == 0) }
    public func broadcast(bytes: inout [UInt8], from root: Int) { precondition(root == 0) }
    public func exchange(_ outgoing: [[UInt8]]) -> [[UInt8]] {
        precondition(outgoing.count == 1)
        return outgoing
    }
    public func barrier() {}
    public var traffic: CommunicationTraffic { CommunicationTraffic() }
}

extension Communicator {
    /// True for a run with more than one rank.
    public var isDistributed: Bool { size > 1 }

    /// The ordered sum of one scalar over the ranks.
    public func sum(_ value: Double) -> Double {
        if size == 1 { return value }
        var v = [value]
        sum(&v)
        return v[0]
    }

    /// The sum of one integer over the ranks (exact).
    public func sum(_ value: Int) -> Int {
        if size == 1 { return value }
        return allGather([value]).reduce(0) { $0 + $1[0] }
    }

    /// The largest of one integer over the ranks.
    public func maximum(_ value: Int) -> Int {
        if size == 1 { return value }
        return allGather([value]).map { $0[0] }.max()!
    }

    /// The largest of one value over the ranks (NaN counts as +infinity).
    public func maximum(_ value: Double) -> Double {
        if size == 1 { return value }
        return allGather([value.isNaN ? .infinity : value]).map { $0[0] }.max()!
    }

    /// The position of the rank holding the largest `value` (lowest rank on ties) and that
    /// value (NaN counts as +infinity): for "largest |z| at row ..." messages.
    public func argMaximum(_ value: Double) -> (rank: Int, value: Double) {
        if size == 1 { return (0, value) }
        let all = allGather([value.isNaN ? .infinity : value]).map { $0[0] }
        var best = 0
        for r in 1 ..< all.count where all[r] > all[best] { best = r }
        return (best, all[best])
    }

    /// True on every rank when `flag` is true on every rank.
    public func all(_ flag: Bool) -> Bool {
        if size == 1 { return flag }
        return allGather([flag ? 1 : 0]).allSatisfy { $0[0] == 1 }
    }

    /// The first (lowest-rank) error message any rank reports, with its rank, or nil when no
    /// rank has one. Every rank must call it at the same point, so that an error found on one
    /// rank (a bad line in its part of a file) ends every rank with the same message instead
    /// of leaving the others waiting in the next collective.
    public func firstError(_ message: String?) -> (rank: Int, message: String)? {
        if size == 1 { return message.map { (0, $0) } }
        let local: [UInt8] = message.map { [1] + Array($0.utf8) } ?? [0]
        for (r, bytes) in allGather(bytes: local).enumerated() where bytes.first == 1 {
            return (r, String(decoding: bytes.dropFirst(), as: UTF8.self))
        }
        return nil
    }
}

/// Where a matrix's rows sit in a row-partitioned run: this rank's block of the global rows
/// and the communicator its passes combine through. A matrix held whole by one process has
/// `RowDistribution.whole(rowCount:nonzeroCount:)` (offset 0, `SingleProcess`).
public struct RowDistribution: Sendable {
    /// The communicator the passes over this matrix combine through.
    public let communicator: any Communicator
    /// The global index of this block's first row.
    public let rowOffset: Int
    /// The number of rows of the whole (global) matrix.
    public let globalRowCount: Int
    /// The number of stored entries of the whole (global) matrix.
    public let globalNonzeroCount: Int

    /// A block of a distributed matrix.
    public init(communicator: any Communicator, rowOffset: Int, globalRowCount: Int, globalNonzeroCount: Int) {
        self.communicator = communicator
        self.rowOffset = rowOffset
        self.globalRowCount = globalRowCount
        self.globalNonzeroCount = globalNonzeroCount
    }

    /// A matrix held whole by this process.
    public static func whole(rowCount: Int, nonzeroCount: Int) -> RowDistribution {
        RowDistribution(communicator: SingleProcess.shared, rowOffset: 0, globalRowCount: rowCount, globalNonzeroCount: nonzeroCount)
    }

    /// True when the matrix is split over more than one rank.
    @inlinable public var isDistributed: Bool { communicator.size > 1 }

    /// The contiguous block of rows rank `rank` of `ranks` holds when `rows` rows are split
    /// evenly (the first `rows % ranks` ranks hold one row more). Depends only on the three
    /// numbers, so every rank (and `hyperreg partition`) computes the same owner for a row.
    public static func block(rows: Int, ranks: Int, rank: Int) -> Range<Int> {
        let base = rows / ranks, extra = rows % ranks
        let start = rank * base + min(rank, extra)
        return start ..< start + base + (rank < extra ? 1 : 0)
    }

    /// The rank whose block (`block(rows:ranks:rank:)`) holds global row `row`.
    public static func owner(ofRow row: Int, rows: Int, ranks: Int) -> Int {
        let base = rows / ranks, extra = rows % ranks
        let split = extra * (base + 1)
        if row < split { return row / (base + 1) }
        return extra + (row - split) / max(1, base)
    }
}
