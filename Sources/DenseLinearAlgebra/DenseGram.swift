// A^T diag(s) A for matrices whose rows are dense enough that BLAS 3 beats the sparse
// scatter: rows are copied, scaled by sqrt|s_i|, into dense column-major blocks (positive
// and negative weights apart), and `dsyrk` accumulates P^T P - N^T N into the upper
// triangle. The sparse assembly costs about k^2/2 scattered updates per row with k
// nonzeros; this path costs d^2/2 multiply-adds per row at BLAS 3 speed, so it wins when
// k/d is large (docs/performance.md gives the measured crossover).

internal import CSuiteSparse
import SparseCore

/// The dense row-block assembly of `A^T diag(s) A` (BLAS `dsyrk`).
public enum DenseGram {
    /// Rows per block: a block is `rows x d` doubles, copied once and read by dsyrk.
    public static let blockRows = 256

    /// The upper triangle of `A^T diag(weights) A`, packed by column (entry (j, k), j <= k,
    /// at k(k+1)/2 + j: the order of a dense `NormalMatrixPattern`), summed over all rows or
    /// over `rows` only. Rows are taken in order, in blocks of `blockRows`, so the result
    /// does not depend on the thread count of hyperreg's kernels (OpenBLAS's own threads
    /// split the output, not the sum over rows). For one rank's block of a distributed
    /// matrix (collective), the sum over every rank's rows.
    ///
    /// - Precondition: `weights.count == matrix.rowCount`, `matrix.columnCount <= Int32.max`.
    public static func packedUpperGram(_ matrix: CSRMatrix, weights: [Double], rows subset: [Int]? = nil) -> [Double] {
        precondition(weights.count == matrix.rowCount, "packedUpperGram: \(weights.count) weights for \(matrix.rowCount) rows")
        let d = matrix.columnCount
        let count = subset?.count ?? matrix.rowCount
        let b = blockRows
        var full = [Double](repeating: 0, count: d * d)  // column-major, upper triangle used
        var positive = [Double](repeating: 0, count: b * d)
        var negative = [Double](repeating: 0, count: b * d)
        var n32 = Int32(d), lda = Int32(b), ldc = Int32(d)
        var uplo = CChar(UInt8(ascii: "U")), trans = CChar(UInt8(ascii: "T"))
        var plus = 1.0, minus = -1.0, one = 1.0
        var start = 0
        while start < count {
            let end = min(count, start + b)
            var np = 0, nn = 0
            for item in start..<end {
                let i = subset?[item] ?? item
                let s = weights[i]
                if s == 0 || matrix.rowOffsets[i] == matrix.rowOffsets[i + 1] { continue }
                let scale = Swift.abs(s).squareRoot()
                let row: Int
                if s > 0 { row = np; np += 1 } else { row = nn; nn += 1 }
                for e in matrix.rowOffsets[i]..<matrix.rowOffsets[i + 1] {
                    let j = Int(matrix.columnIndices[e])
                    if s > 0 { positive[j * b + row] = scale * matrix.values[e] } else { negative[j * b + row] = scale * matrix.values[e] }
                }
            }
            full.withUnsafeMutableBufferPointer { c in
                if np > 0 {
                    var k32 = Int32(np)
                    positive.withUnsafeBufferPointer { a in
                        dsyrk_(&uplo, &trans, &n32, &k32, &plus, a.baseAddress, &lda, &one, c.baseAddress, &ldc, 1, 1)
                    }
                }
                if nn > 0 {
                    var k32 = Int32(nn)
                    negative.withUnsafeBufferPointer { a in
                        dsyrk_(&uplo, &trans, &n32, &k32, &minus, a.baseAddress, &lda, &one, c.baseAddress, &ldc, 1, 1)
                    }
                }
            }
            // Clear the blocks for the next one (b x d writes against b d^2 / 2 multiply-adds).
            positive.withUnsafeMutableBufferPointer { p in p.update(repeating: 0) }
            negative.withUnsafeMutableBufferPointer { p in p.update(repeating: 0) }
            start = end
        }
        var packed = [Double](repeating: 0, count: d * (d + 1) / 2)
        for k in 0..<d {
            let base = k * (k + 1) / 2
            for j in 0...k { packed[base + j] = full[k * d + j] }
        }
        matrix.combineOverRanks(&packed)  // over the ranks when `matrix` is one rank's block
        return packed
    }
}
