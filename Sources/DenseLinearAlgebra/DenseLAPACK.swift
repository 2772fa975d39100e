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
