import HyperRegTestSupport
import Testing
@testable import SparseCore

/// The one-pass `A^T diag(delta) A v` kernel (issue 14, item 1). Serialized: the thread-count
/// test runs with 1 and then 2 threads through `Parallelism.withThreadCount`.
@Suite("One-pass Hessian-vector products", .serialized)
struct HessianVectorKernelTests {
    // Tolerance: each product is a sum of at most n * (row length) products of O(1) numbers,
    // formed in a different order than the dense reference; 1e-12 relative leaves ~1e4 ulps for
    // that reordering and is far below the O(1) error of any indexing or weighting mistake.
    let tol = 1e-12

    /// Every group size 1 to 6 (a 4-wide group plus a remainder past 4), weights of both signs
    /// and some zero (a row whose scaled dot is zero skips its update), against dense
    /// `A^T (delta o (A v))` and `A v`.
    @Test(arguments: 1...6)
    func matchesDense(count: Int) {
        let n = 2500, d = 37
        let a = randomCSR(rows: n, columns: d, density: 0.15, seed: 41)
        let dense = a.denseRowMajor()
        var rng = FixtureRandom(seed: UInt64(50 + count))
        let delta = (0..<n).map { i in i % 7 == 0 ? 0 : rng.uniform(-0.5, 2) }
        let vs = (0..<count).map { _ in (0..<d).map { _ in rng.uniform(-1, 1) } }
        let out = a.weightedNormalProducts(weights: delta, vs)
        #expect(out.products.count == count && out.forward.count == count)
        for m in 0..<count {
            let av = Dense.multiply(dense, rows: n, columns: d, vs[m])
            let reference = Dense.transposeMultiply(dense, rows: n, columns: d, zip(delta, av).map { $0 * $1 })
            #expect(relativeMaxDifference(out.forward[m], av) < tol)
            #expect(relativeMaxDifference(out.products[m], reference) < tol)
        }
    }

    /// The same bits on 1 and 2 threads (the chunk partials are summed in chunk order).
    @Test func sameBitsForAnyThreadCount() {
        let n = 20000, d = 100
        let a = randomCSR(rows: n, columns: d, density: 0.1, seed: 43)
        #expect(a.transposePartition.count > 2)
        var rng = FixtureRandom(seed: 44)
        let delta = (0..<n).map { _ in rng.uniform(-1, 3) }
        let vs = (0..<3).map { _ in (0..<d).map { _ in rng.uniform(-1, 1) } }
        let (one, usedOne) = Parallelism.withThreadCount(1) { a.weightedNormalProducts(weights: delta, vs) }
        let (two, usedTwo) = Parallelism.withThreadCount(2) { a.weightedNormalProducts(weights: delta, vs) }
        #expect(usedOne.mostThreads == 1 && usedTwo.mostThreads == 2, "the products did not use 1 and then 2 threads")
        #expect(one.products == two.products)
        #expect(one.forward == two.forward)
    }

    /// One vector alone takes the scalar path; it does the operations of one SIMD4 lane, so
    /// it gives the same bits as that vector inside a group.
    @Test func singleVectorMatchesItsLaneInAGroup() {
        let n = 5000, d = 30
        let a = randomCSR(rows: n, columns: d, density: 0.2, seed: 45)
        var rng = FixtureRandom(seed: 46)
        let delta = (0..<n).map { _ in rng.uniform(-1, 3) }
        let v = (0..<d).map { _ in rng.uniform(-1, 1) }, v2 = (0..<d).map { _ in rng.uniform(-1, 1) }
        let alone = a.weightedNormalProducts(weights: delta, [v])
        let grouped = a.weightedNormalProducts(weights: delta, [v, v2])
        #expect(alone.products[0] == grouped.products[0])
        #expect(alone.forward[0] == grouped.forward[0])
    }

    /// The buffer form (`forward:` re-used, its old contents arbitrary) gives the bits of the
    /// array form, whatever the buffer held before.
    @Test func bufferFormMatchesArrayForm() {
        let n = 5000, d = 30
        let a = randomCSR(rows: n, columns: d, density: 0.2, seed: 47)
        var rng = FixtureRandom(seed: 48)
        let delta = (0..<n).map { _ in rng.uniform(-1, 3) }
        let v = (0..<d).map { _ in rng.uniform(-1, 1) }
        let reference = a.weightedNormalProducts(weights: delta, [v])
        var buffer = (0..<n).map { _ in rng.uniform(-9, 9) }
        let product = a.weightedNormalProduct(weights: delta, v, forward: &buffer)
        #expect(product == reference.products[0])
        #expect(buffer == reference.forward[0])
    }
}

/// The recycled n-vectors of a solve (issue 14, item 3).
@Suite("Vector pool")
struct VectorPoolTests {
    /// A recycled vector is handed out again (same storage, old contents) for its length only;
    /// `takeZeroed` clears it; the pool keeps at most its capacity.
    @Test func recyclesByLengthUpToCapacity() {
        let pool = VectorPool(capacity: 2)
        var v = pool.take(5)
        #expect(v == [0, 0, 0, 0, 0])
        v[2] = 7
        let address = v.withUnsafeBufferPointer { $0.baseAddress }
        pool.recycle(v)
        v = []
        #expect(pool.count == 1)
        #expect(pool.take(4).count == 4 && pool.count == 1, "a vector of another length was handed out")
        let again = pool.take(5)
        #expect(again.withUnsafeBufferPointer { $0.baseAddress } == address, "the recycled storage was not re-used")
        #expect(again[2] == 7 && pool.count == 0)
        pool.recycle(again)
        #expect(pool.takeZeroed(5) == [0, 0, 0, 0, 0])
        for _ in 0..<3 { pool.recycle([1, 2, 3]) }
        #expect(pool.count == 2)
    }

    /// A vector recycled while still referenced elsewhere is not changed under that reference:
    /// writing to it after `take` copies first (arrays copy on write).
    @Test func sharedVectorIsNeverWrittenUnderItsReader() {
        let pool = VectorPool()
        let kept = [1.0, 2, 3]
        pool.recycle(kept)
        var taken = pool.take(3)
        taken.withUnsafeMutableBufferPointer { $0.update(repeating: -1) }
        #expect(kept == [1, 2, 3])
        #expect(taken == [-1, -1, -1])
    }
}
