// Deterministic parallelism for streaming passes over rows.
//
// A pass is split into a fixed list of row chunks that depends only on the matrix
// (never on the thread count). Each chunk yields a partial result; partials are
// combined in chunk order. Hence the same bits for the same input with 1 or 2 threads,
// and the combine step is the one place a row-partitioned (MPI) run would allreduce.

import Dispatch
import Synchronization

/// Process-wide parallelism settings for SparseCore kernels.
public enum Parallelism {
    private static let configuredThreads = Atomic<Int>(0)

    /// The number of threads kernels use: the count of an enclosing `withThreadCount` in
    /// this task, else the process-wide setting, else `HYPERREG_THREADS` if set, else the
    /// number of processors this process may run on (`availableProcessors`). Results never
    /// depend on it.
    ///
    /// Setting it (package code only: the command line's `--threads`) changes the count for
    /// the whole process, including tests running concurrently; tests and library callers
    /// use `withThreadCount(_:_:)` instead.
    public package(set) static var threadCount: Int {
        get {
            if let scoped = scopedThreads, scoped > 0 { return scoped }
            let configured = configuredThreads.load(ordering: .relaxed)
            return configured > 0 ? configured : defaultThreadCount
        }
        set { configuredThreads.store(max(0, newValue), ordering: .relaxed) }
    }

    /// The thread count of the innermost `withThreadCount` of the current task (task-local:
    /// other tasks and threads do not see it).
    @TaskLocal private static var scopedThreads: Int?
    /// The usage record of the innermost `withThreadCount` of the current task.
    @TaskLocal private static var scopedUsage: ThreadUsage?

    /// Runs `body` with kernels called from this task using `threads` threads, without
    /// touching the process-wide setting (so concurrent tasks keep theirs), and returns what
    /// the passes inside really used. Kernels read the count on the calling thread, so every
    /// pass started by `body` on this task is covered.
    public static func withThreadCount<R>(_ threads: Int, _ body: () throws -> R) rethrows -> (result: R, usage: ThreadUsage) {
        let usage = ThreadUsage()
        let result = try $scopedThreads.withValue(max(1, threads)) {
            try $scopedUsage.withValue(usage) { try body() }
        }
        return (result, usage)
    }

    /// The processors this process may run on (online, within its CPU affinity: taskset, a
    /// cpuset, an MPI launcher's binding).
    public static var availableProcessors: Int { max(1, processorCount()) }

    private static let defaultThreadCount: Int = {
        if let text = getEnvironment("HYPERREG_THREADS"), let value = Int(text), value > 0 { return value }
        return max(1, processorCount())
    }()

    /// Runs `body(c)` for every chunk `c` in `0 ..< count`, on up to `threadCount` threads.
    /// Thread t takes chunks t, t + T, t + 2T, ...; callers write only to chunk-owned storage.
    @usableFromInline package static func forEachChunk(_ count: Int, _ body: @Sendable (Int) -> Void) {
        let threads = min(threadCount, count)
        scopedUsage?.record(threads: threads)
        if threads <= 1 {
            for c in 0..<count { body(c) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var c = t
            while c < count { body(c); c += threads }
        }
    }

    /// Runs `body` on each chunk and returns the per-chunk results in chunk order.
    @usableFromInline package static func mapChunks<R: Sendable>(_ count: Int, _ body: @Sendable (Int) -> R) -> [R] {
        let results = UnsafeMutableBufferPointer<R?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        let shared = SharedBuffer(results)
        forEachChunk(count) { c in shared.buffer[c] = body(c) }
        return results.map { $0! }
    }
}

/// What the parallel passes inside one `Parallelism.withThreadCount` used.
public final class ThreadUsage: Sendable {
    private let passCount = Atomic<Int>(0)
    private let maxThreads = Atomic<Int>(0)
    private let minThreads = Atomic<Int>(Int.max)

    init() {}

    func record(threads: Int) {
        _ = passCount.add(1, ordering: .relaxed)
        _ = maxThreads.max(threads, ordering: .relaxed)
        _ = minThreads.min(threads, ordering: .relaxed)
    }

    /// Parallel passes started (`forEachChunk` and `mapChunks` calls).
    public var passes: Int { passCount.load(ordering: .relaxed) }
    /// The most threads any pass ran on (0 when no pass ran).
    public var mostThreads: Int { maxThreads.load(ordering: .relaxed) }
    /// The fewest threads any pass ran on (0 when no pass ran).
    public var fewestThreads: Int { passes == 0 ? 0 : minThreads.load(ordering: .relaxed) }
}

/// A buffer pointer that chunks of a parallel pass write to at disjoint indices.
/// Only for use inside `Parallelism.forEachChunk` bodies that respect that rule.
@usableFromInline
package struct SharedBuffer<Element>: @unchecked Sendable {
    /// The underlying storage.
    package let buffer: UnsafeMutableBufferPointer<Element>
    /// Wraps `buffer`.
    package init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// A read-only view of an array's storage that can cross into parallel chunks.
/// Valid only while the array it came from is alive and unmodified.
@usableFromInline
package struct SharedReadBuffer<Element>: @unchecked Sendable {
    /// The underlying storage.
    @usableFromInline package let buffer: UnsafeBufferPointer<Element>
    /// Wraps `buffer`.
    @usableFromInline package init(_ buffer: UnsafeBufferPointer<Element>) { self.buffer = buffer }
}

/// A fixed split of a matrix's rows into contiguous chunks of similar work
/// (nonzeros plus rows). It depends only on the matrix and the limits given.
public struct RowPartition: Sendable, Equatable {
    /// Chunk c covers rows `boundaries[c] ..< boundaries[c + 1]`.
    public let boundaries: [Int]

    /// Number of chunks.
    public var count: Int { boundaries.count - 1 }

    /// Rows of chunk `c`.
    @inlinable public func rows(_ c: Int) -> Range<Int> { boundaries[c] ..< boundaries[c + 1] }

    /// Splits `matrix`'s rows into at most `maxChunks` chunks of at least
    /// `minimumWork` units (one unit per nonzero and per row).
    public init(matrix: CSRMatrix, maxChunks: Int = 64, minimumWork: Int = 1 << 15) {
        let n = matrix.rowCount
        let total = matrix.nonzeroCount + n
        let chunks = max(1, min(maxChunks, total / max(1, minimumWork)))
        var bounds = [0]
        if chunks > 1 {
            let offsets = matrix.rowOffsets
            var row = 0
            for c in 1..<chunks {
                let target = (total * c) / chunks
                // First row whose cumulative work reaches the target (binary search).
                var lo = row, hi = n
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if offsets[mid] + mid < target { lo = mid + 1 } else { hi = mid }
                }
                row = lo
                if row > bounds.last! && row < n { bounds.append(row) }
            }
        }
        bounds.append(n)
        boundaries = bounds
    }

    /// Splits `rowCount` rows (no matrix) into at most `maxChunks` equal chunks of at
    /// least `minimumRows` rows; for vector passes.
    public init(rowCount: Int, maxChunks: Int = 64, minimumRows: Int = 1 << 15) {
        let chunks = max(1, min(maxChunks, rowCount / max(1, minimumRows)))
        var bounds = [0]
        for c in 1..<max(1, chunks) { bounds.append(rowCount * c / chunks) }
        bounds.append(rowCount)
        boundaries = bounds
    }
}

/// Chunk-owned partial results of a reduction, combined in chunk order: the one place
/// where a pass's per-chunk partials are stored and summed (the transpose products, the
/// Hessian assembly and the sketch use it; a row-partitioned run would allreduce here).
/// Chunk `c` writes only to `block(c)`, so a parallel pass needs no locks, and the sum is
/// formed as `((0 + block 0) + block 1) + ...` element by element: the same bits for any
/// thread count.
@usableFromInline
package struct ChunkPartials<Element>: @unchecked Sendable {
    /// Number of chunks.
    @usableFromInline package let parts: Int
    /// Elements per chunk.
    @usableFromInline package let width: Int
    private let storage: UnsafeMutableBufferPointer<Element>

    private init(parts: Int, width: Int, zero: Element) {
        self.parts = parts
        self.width = width
        storage = .allocate(capacity: parts * width)
        storage.initialize(repeating: zero)
    }

    /// Runs `body` with `parts` zeroed blocks of `width` elements, freed on return.
    @usableFromInline package static func with<R>(parts: Int, width: Int, zero: Element, _ body: (ChunkPartials<Element>) throws -> R) rethrows -> R {
        let partials = ChunkPartials(parts: parts, width: width, zero: zero)
        defer { partials.storage.deallocate() }
        return try body(partials)
    }

    /// The block of chunk `c`.
    @inlinable package func block(_ c: Int) -> UnsafeMutablePointer<Element> { base + c * width }

    /// The first block (internal; `block(_:)` is the accessor).
    @usableFromInline var base: UnsafeMutablePointer<Element> { storage.baseAddress! }

    /// Visits the blocks in chunk order: `combine(block)` for c = 0, 1, ...
    @usableFromInline package func forEachInOrder(_ combine: (UnsafePointer<Element>) -> Void) {
        for c in 0 ..< parts { combine(UnsafePointer(block(c))) }
    }
}

extension ChunkPartials where Element == Double {
    /// The element-wise sum of the blocks, added in chunk order.
    package func sum() -> [Double] {
        var result = [Double](repeating: 0, count: width)
        result.withUnsafeMutableBufferPointer { r in
            forEachInOrder { block in
                for j in 0 ..< width { r[j] += block[j] }
            }
        }
        return result
    }
}

extension ChunkPartials where Element == Double {
    /// The element-wise sum, in chunk order, of `chunks` blocks of `width` elements that
    /// `body(c, block)` fills (each block zeroed before its chunk), holding at most `slots`
    /// blocks at a time: waves of up to `slots` chunks run in parallel, then their blocks are
    /// added to the result in chunk order (in parallel over element ranges). Each element is
    /// summed as `((0 + block 0) + block 1) + ...` whatever `slots` is, so the result has the
    /// bits of `with(parts: chunks, ...)` and `sum()`, for any thread count, while memory is
    /// `slots` blocks instead of `chunks`. With `slots` = the thread count, a pass can use
    /// fine, fixed chunks (up to 64) and so every thread, without holding 64 partial blocks.
    @usableFromInline package static func streamedSum(chunks: Int, width: Int, slots: Int, _ body: @Sendable (Int, UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        var result = [Double](repeating: 0, count: width)
        result.withUnsafeMutableBufferPointer { rb in
            let r = SharedBuffer(rb)
            streamedFold(chunks: chunks, width: width, slots: slots, foldCount: width, body) { range, block in
                for e in range { r.buffer[e] += block[e] }
            }
        }
        return result
    }

    /// `streamedSum` with the caller's fold: after each wave, `fold(range, block)` is called for
    /// the wave's blocks in chunk order, in parallel over fixed ranges of `0 ..< foldCount`
    /// (each range sees every block, in order; `fold` must write only to places owned by its
    /// range, e.g. rows of a transposed result).
    package static func streamedFold(chunks: Int, width: Int, slots: Int, foldCount: Int, _ body: @Sendable (Int, UnsafeMutablePointer<Double>) -> Void,
                                     fold: @Sendable (Range<Int>, UnsafePointer<Double>) -> Void) {
        let held = max(1, min(slots, chunks))
        let ranges = RowPartition(rowCount: foldCount, maxChunks: 64, minimumRows: max(1, (1 << 13) * foldCount / max(1, width)))
        with(parts: held, width: width, zero: 0.0) { partials in
            var first = 0
            while first < chunks {
                let count = min(held, chunks - first), base = first
                Parallelism.forEachChunk(count) { j in
                    let block = partials.block(j)
                    if base > 0 { block.update(repeating: 0, count: width) }
                    body(base + j, block)
                }
                Parallelism.forEachChunk(ranges.count) { f in
                    let range = ranges.rows(f)
                    for j in 0 ..< count { fold(range, UnsafePointer(partials.block(j))) }
                }
                first += count
            }
        }
    }
}

