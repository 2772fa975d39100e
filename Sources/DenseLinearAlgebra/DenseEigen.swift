internal import CSuiteSparse

/// Eigenvalues of small dense symmetric matrices through LAPACK's `dsyevd` (OpenBLAS, the
/// BLAS CHOLMOD already links). For the theory diagnostics, where d is small enough that an
/// O(d^3) dense decomposition is cheaper and more reliable than an iterative method.
public enum DenseSymmetricEigen {
    /// All eigenvalues of the symmetric `dimension x dimension` matrix `matrix` (row-major;
    /// only one triangle is read), in ascending order.
    ///
    /// Cost: about (4/3) d^3 flops and 8 d^2 bytes (d = 2000: about 1 s, 32 MB).
    ///
    /// - Throws: `.invalidSize` for a wrong count, `.nonFinite` for a non-finite entry,
    ///   `.failed` when LAPACK reports failure (`info != 0`, e.g. no convergence).
    public static func eigenvalues(_ matrix: [Double], dimension d: Int) throws(DenseLAPACKError) -> [Double] {
        try decompose(matrix, dimension: d, vectors: false).values
    }

    /// All eigenvalues (ascending) and orthonormal eigenvectors of the symmetric matrix
    /// `matrix` (row-major, one triangle read): `vectors[k * d + i]` is component i of the
    /// eigenvector of `values[k]`.
    ///
    /// Cost: about 9 d^3 flops and 2 d^2 doubles beyond the input.
    ///
    /// - Throws: as `eigenvalues(_:dimension:)`.
    public static func eigensystem(_ matrix: [Double], dimension d: Int) throws(DenseLAPACKError) -> (values: [Double], vectors: [Double]) {
        try decompose(matrix, dimension: d, vectors: true)
    }

    private static func decompose(_ matrix: [Double], dimension d: Int, vectors: Bool) throws(DenseLAPACKError) -> (values: [Double], vectors: [Double]) {
        guard d >= 1, d < Int(Int32.max), matrix.count == d * d else {
            throw .invalidSize("eigenvalues: \(matrix.count) entries for dimension \(d)")
        }
        if let k = matrix.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinite(row: k / d + 1, column: k % d + 1, value: matrix[k])
        }
        var a = matrix
        var w = [Double](repeating: 0, count: d)
        var n = Int32(d), lda = Int32(d), info: Int32 = 0
        // jobz = 'N' (values) or 'V' (and vectors); workspace sizes from LAPACK's documentation.
        var lwork = Int32(vectors ? 1 + 6 * d + 2 * d * d : max(1, 2 * d + 1))
        var liwork = Int32(vectors ? 3 + 5 * d : 1)
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        var jobz = CChar(UInt8(ascii: vectors ? "V" : "N")), uplo = CChar(UInt8(ascii: "L"))
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else {
            throw .failed(routine: "dsyevd", info: Int(info))
        }
        // Row-major in, column-major out: LAPACK's column k (the k-th eigenvector) is
        // a[k * d ..< (k + 1) * d], which is the layout documented above.
        return (w, vectors ? a : [])
    }
}
