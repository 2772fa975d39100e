// A small stock of recycled length-n vectors (issue 14, item 3: no n-vector allocated per call on
// the hot path). An n-vector of a large problem is a fresh `mmap` for glibc's malloc each time
// (above its mmap threshold), so every new one costs a page fault per 4 KiB on first touch and an
// `munmap` when freed: measured at n = 1e6, d = 200, about a third of a Newton-CG solve's time
// (61 -> 41 pass-equivalents with malloc told to keep freed memory). The solver hands vectors it
// no longer needs back here and takes them again for the next trial point, Hessian weights or
// product, so after the first iteration the hot path touches no new page.

import Synchronization

/// Recycled `[Double]` buffers of one length, shared by the passes of one solve.
///
/// `take(_:)` returns a vector whose contents are unspecified: the caller writes every element.
/// A vector handed back with `recycle(_:)` that is still referenced elsewhere stays correct
/// (arrays copy on write), it only loses the saving.
package final class VectorPool: Sendable {
    /// At most this many vectors are kept. A Newton-CG iteration hands back at most 6 (the old
    /// iterate's z, u, v (none for exp, whose v is u), the Hessian weights, A s and the
    /// products' A d) and takes as many again, so with 8 no n-vector is allocated after the
    /// first iteration; the vectors kept are ones that were live at the same time a moment
    /// before, so the peak memory hardly moves.
    package static let defaultCapacity = 8

    private let stock = Mutex<[[Double]]>([])
    private let capacity: Int

    /// An empty pool keeping at most `capacity` vectors.
    package init(capacity: Int = VectorPool.defaultCapacity) { self.capacity = capacity }

    /// A vector of `count` elements: a recycled one when there is one of that length (its old
    /// contents remain), else a new zero vector.
    package func take(_ count: Int) -> [Double] {
        let reused: [Double]? = stock.withLock { s in
            guard let k = s.lastIndex(where: { $0.count == count }) else { return nil }
            return s.remove(at: k)
        }
        return reused ?? [Double](repeating: 0, count: count)
    }

    /// A vector of `count` zeros (recycled when possible).
    package func takeZeroed(_ count: Int) -> [Double] {
        var v = take(count)
        v.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        return v
    }

    /// Hands `vector` back for a later `take`. Vectors beyond the capacity, and empty ones,
    /// are simply freed.
    package func recycle(_ vector: consuming [Double]) {
        guard !vector.isEmpty else { return }
        let v = vector
        stock.withLock { s in if s.count < capacity { s.append(v) } }
    }

    /// Vectors held now (for tests).
    package var count: Int { stock.withLock { $0.count } }
}
