import DenseLinearAlgebra
import Testing
import HyperRegTestSupport
import Cholmod
import SparseCore

// DenseGram (BLAS dsyrk on dense row blocks) must give the same A^T diag(s) A as the sparse
// assembly it replaces. Tolerance 1e-12 relative to the largest entry: the same products
// summed in another order (blocks of 256 rows, positive and negative weights apart), at
// most n = 700 terms of O(1) each, so the reordering error is ~1e-14; a dropped row,
// weight sign or block boundary changes entries by O(1e-2) or more.
@Suite("Dense row-block assembly (dsyrk)")
struct DenseGramTests {
    @Test(arguments: [(700, 30, 0.8, UInt64(1)), (256, 12, 0.3, UInt64(2)), (513, 40, 1.0, UInt64(3))])
    func matchesTheSparseAssembly(rows n: Int, columns d: Int, density: Double, seed: UInt64) throws {
        let a = randomCSR(rows: n, columns: d, density: density, seed: seed)
        let pattern = try NormalMatrixPattern(matrix: a)
        try #require(pattern.isDense, "dense rows give a dense A^T A")
        var rng = FixtureRandom(seed: seed + 50)
        // Signed weights, some exactly zero.
        let s = (0..<n).map { i in i % 7 == 0 ? 0 : rng.uniform(-1, 2) }
        let dense = DenseGram.packedUpperGram(a, weights: s)
        let sparse = pattern.assemble(a, weights: s)
        #expect(dense.count == d * (d + 1) / 2)
        #expect(relativeMaxDifference(dense, sparse) < 1e-12)
        let reference = Dense.weightedGram(a.denseRowMajor(), rows: n, columns: d, weights: s)
        #expect(relativeMaxDifference(pattern.denseSymmetric(dense), reference) < 1e-12)
        // A subset of rows (a leverage sample), listed out of order across block boundaries.
        let subset = Array(stride(from: n - 1, through: 0, by: -3))
        let denseSubset = DenseGram.packedUpperGram(a, weights: s, rows: subset)
        #expect(relativeMaxDifference(denseSubset, pattern.assemble(a, weights: s, rows: subset)) < 1e-12)
    }
}
