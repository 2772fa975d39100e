// DenseLinearAlgebra: the project's dense BLAS/LAPACK wrappers (OpenBLAS, the BLAS CHOLMOD
// already links), in a module of their own beside the sparse `Cholmod` layer:
// * `DenseLAPACK`: the R factor of a QR factorisation of the m x d sketch and triangular
//   solves with it (the leverage-score estimate);
// * `DenseSymmetricEigen`: eigenvalues and eigenvectors of small symmetric matrices (the
//   theory diagnostics);
// * `DenseGram`: `A^T diag(s) A` by dense row blocks with `dsyrk` (the Hessian assembly
//   when rows are dense enough).
// Column-major storage where LAPACK wants it; every failure is a thrown `DenseLAPACKError`.

internal import CSuiteSparse

/// Errors of the dense LAPACK wrappers.
public enum DenseLAPACKError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A size is outside LAPACK's 32-bit integer interface or inconsistent with the array.
    case invalidSize(String)
    /// An input entry is not finite (row and column 1-based, the value).
    case nonFinite(row: Int, column: Int, value: Double)
    /// LAPACK returned `info != 0` (the routine name and info).
    case failed(routine: String, info: Int)

    public var description: String {
        switch self {
        case .invalidSize(let m): return "dense LAPACK: \(m)"
        case .nonFinite(let i, let j, let v): return "dense LAPACK: entry (\(i), \(j)) is \(v)"
        case .failed(let routine, let info): return "LAPACK \(routine) failed with info = \(info)"
        }
    }
}

/// Thin, checked wrappers over LAPACK (`dgeqrf`, `dtrtrs`).
public enum DenseLAPACK {
    /// The d x d upper-triangular factor R of `M = Q R` for a column-major m x d matrix M
    /// (`m >= 1`, `d >= 1`). For `m < d` the missing rows of R are zero.
    ///
    /// The corresponding LAPACK routine is `dgeqrf` (Householder QR, blocked).
    ///
    /// - Parameters:
    ///   - matrix: M, column-major (`matrix[j * m + i]` is M[i, j]); overwritten.
    ///   - rows: m.
    ///   - columns: d.
    /// - Returns: R, column-major d x d (entries below the diagonal are 0).
    /// - Throws: `DenseLAPACKError` for sizes beyond `Int32.max` or a LAPACK failure.
    public static func qrUpperFactor(_ matrix: inout [Double], rows m: Int, columns d: Int) throws(DenseLAPACKError) -> [Double] {
        guard m >= 1, d >= 1, m <= Int(Int32.max), d <= Int(Int32.max), matrix.count == m * d else {
            throw .invalidSize("qrUpperFactor: \(m) x \(d) with \(matrix.count) values")
        }
        var m32 = Int32(m), d32 = Int32(d), lda = Int32(m), info: Int32 = 0
        var tau = [Double](repeating: 0, count: min(m, d))
        // Workspace query, then the factorisation.
        var query = 0.0
        var lwork: Int32 = -1
        matrix.withUnsafeMutableBufferPointer { a in
            dgeqrf_(&m32, &d32, a.baseAddress, &lda, &tau, &query, &lwork, &info)
        }
        guard info == 0 else { throw .failed(routine: "dgeqrf (workspace query)", info: Int(info)) }
        lwork = Int32(max(1, min(Double(Int32.max), query.rounded(.up))))
        var work = [Double](repeating: 0, count: Int(lwork))
        matrix.withUnsafeMutableBufferPointer { a in
            dgeqrf_(&m32, &d32, a.baseAddress, &lda, &tau, &work, &lwork, &info)
        }
        guard info == 0 else { throw .failed(routine: "dgeqrf", info: Int(info)) }
        var r = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            for i in 0...min(j, m - 1) { r[j * d + i] = matrix[j * m + i] }
        }
        return r
    }

    /// Solves `R X = B` in place for an upper-triangular, non-singular R (d x d,
    /// column-major) and `k` right-hand sides (B column-major d x k).
    ///
    /// The corresponding LAPACK routine is `dtrtrs`.
    ///
    /// - Throws: `DenseLAPACKError.failed` with `info > 0` when `R[info-1, info-1] == 0`.
    public static func solveUpperTriangular(_ r: [Double], dimension d: Int, _ b: inout [Double], rightHandSides k: Int) throws(DenseLAPACKError) {
        guard d >= 1, k >= 1, d <= Int(Int32.max), k <= Int(Int32.max), r.count == d * d, b.count == d * k else {
            throw .invalidSize("solveUpperTriangular: R \(d) x \(d) with \(r.count) values, B with \(b.count) values and \(k) columns")
        }
        var n = Int32(d), nrhs = Int32(k), lda = Int32(d), ldb = Int32(d), info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "U")), trans = CChar(UInt8(ascii: "N")), diag = CChar(UInt8(ascii: "N"))
        r.withUnsafeBufferPointer { rp in
            b.withUnsafeMutableBufferPointer { bp in
                dtrtrs_(&uplo, &trans, &diag, &n, &nrhs, rp.baseAddress, &lda, bp.baseAddress, &ldb, &info, 1, 1, 1)
            }
        }
        guard info == 0 else { throw .failed(routine: "dtrtrs", info: Int(info)) }
    }
}

extension DenseLAPACK {
    /// Solves `M x = r` for a symmetric positive definite `dimension x dimension` matrix M
    /// (column-major, the lower triangle is read) by Cholesky, or returns the order of the
    /// first leading minor that is not positive definite (1-based) when M is not.
    ///
    /// The corresponding LAPACK routines are `dpotrf` and `dpotrs`.
    ///
    /// - Throws: `.invalidSize` for inconsistent sizes, `.failed` for an illegal argument.
    public static func choleskySolve(_ matrix: [Double], dimension d: Int, _ r: [Double]) throws(DenseLAPACKError) -> (solution: [Double]?, failedPivot: Int?) {
        guard d >= 1, d <= Int(Int32.max), matrix.count == d * d, r.count == d else {
            throw .invalidSize("choleskySolve: \(matrix.count) entries and \(r.count) right-hand-side entries for dimension \(d)")
        }
        var a = matrix, x = r
        var n = Int32(d), lda = Int32(d), nrhs: Int32 = 1, info: Int32 = 0
        var uplo = CChar(UInt8(ascii: "L"))
        dpotrf_(&uplo, &n, &a, &lda, &info, 1)
        if info > 0 { return (nil, Int(info)) }
        guard info == 0 else { throw .failed(routine: "dpotrf", info: Int(info)) }
        dpotrs_(&uplo, &n, &nrhs, &a, &lda, &x, &lda, &info, 1)
        guard info == 0 else { throw .failed(routine: "dpotrs", info: Int(info)) }
        return (x, nil)
    }

    /// `C = op(A) op(B)` for column-major matrices: `op(A)` is m x k, `op(B)` is k x n
    /// (`transposeA`/`transposeB` say whether the stored A (k x m) or B (n x k) is transposed).
    ///
    /// The corresponding BLAS routine is `dgemm` (each entry of C is one dot product in a
    /// fixed order: OpenBLAS's threads split C, so the bits do not depend on its thread count).
    public static func multiply(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int,
                                transposeA: Bool = false, transposeB: Bool = false) -> [Double] {
        precondition(a.count == m * k && b.count == k * n, "multiply: sizes do not match")
        var c = [Double](repeating: 0, count: m * n)
        guard m > 0, n > 0, k > 0 else { return c }
        var m32 = Int32(m), n32 = Int32(n), k32 = Int32(k)
        var lda = Int32(transposeA ? k : m), ldb = Int32(transposeB ? n : k), ldc = Int32(m)
        var ta = CChar(UInt8(ascii: transposeA ? "T" : "N")), tb = CChar(UInt8(ascii: transposeB ? "T" : "N"))
        var one = 1.0, zero = 0.0
        dgemm_(&ta, &tb, &m32, &n32, &k32, &one, a, &lda, b, &ldb, &zero, &c, &ldc, 1, 1)
        return c
    }
}
