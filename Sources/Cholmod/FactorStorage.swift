internal import CSuiteSparse
import SparseCore

/// One analysed `cholmod_factor` and its numeric state: the engine behind both public
/// factor classes (they differ only in the matrix view they hand to CHOLMOD).
///
/// Keeps a strong reference to its context, so the `cholmod_common` is still alive when
/// `deinit` frees the factor.
final class FactorStorage {
    let context: CholmodContext
    /// The factor is `dimension x dimension`.
    let dimension: Int
    /// The factor; symbolic after `init`, numeric after the first `factorize` (even a
    /// failed one; its numeric state is then not usable, see `isFactorized`).
    let factor: UnsafeMutablePointer<cholmod_factor>
    /// `permutation[k]` is the matrix row/column eliminated at pivot `k` (`L->Perm`).
    let permutation: [Int]
    /// Numerical entries CHOLMOD stores for L: the supernodes' dense blocks (`L->xsize`)
    /// for a supernodal factor, the column counts' sum for a simplicial one.
    let storedEntryCount: Int
    /// True after a successful numeric factorisation; false before and after any failure.
    private(set) var isFactorized = false
    /// `cholmod_rcond` of the current factor: `(min diag L / max diag L)^2`.
    private(set) var reciprocalConditionEstimate: Double? = nil

    /// Takes ownership of `factor`, a symbolic factor just returned by `cholmod_analyze`.
    init(context: CholmodContext, dimension: Int, factor: UnsafeMutablePointer<cholmod_factor>) {
        self.context = context
        self.dimension = dimension
        self.factor = factor
        let l = factor.pointee
        if let perm = l.Perm {
            let p = perm.assumingMemoryBound(to: Int32.self)
            permutation = (0..<dimension).map { Int(p[$0]) }
        } else {
            permutation = Array(0..<dimension)
        }
        if l.is_super != 0 {
            storedEntryCount = Int(l.xsize)
        } else if let counts = l.ColCount {
            let c = counts.assumingMemoryBound(to: Int32.self)
            storedEntryCount = (0..<dimension).reduce(0) { $0 + Int(c[$1]) }
        } else {
            storedEntryCount = 0
        }
    }

    deinit {
        var l: UnsafeMutablePointer<cholmod_factor>? = factor
        _ = cholmod_free_factor(&l, context.common)
    }

    /// True when CHOLMOD chose (at analysis) a supernodal factor.
    var isSupernodal: Bool { factor.pointee.is_super != 0 }

    /// Forgets the numeric factorisation (called first by every `factorize`, so that any
    /// failure, even a rejected input, leaves the factor unusable rather than stale).
    func invalidate() {
        isFactorized = false
        reciprocalConditionEstimate = nil
    }

    /// Runs one numeric factorisation and interprets CHOLMOD's status.
    ///
    /// - Parameter body: calls `cholmod_factorize_p` (or a variant) on the factor and common
    ///   it is given, returning its result.
    func factorize(function: String,
                   _ body: (UnsafeMutablePointer<cholmod_factor>, UnsafeMutablePointer<cholmod_common>) -> Int32)
        throws(CholmodError) {
        invalidate()
        let common = context.common
        common.pointee.status = CHOLMOD_OK
        let ok = body(factor, common)
        let status = common.pointee.status
        if status == CHOLMOD_NOT_POSDEF {
            throw .notPositiveDefinite(column: Int(factor.pointee.minor))
        }
        guard status == CHOLMOD_OK, ok != 0 else {
            throw CholmodError(status: status, function: function)
        }
        guard Int(factor.pointee.minor) == dimension else {
            // CHOLMOD always reports a failed pivot as CHOLMOD_NOT_POSDEF; be safe anyway.
            throw .notPositiveDefinite(column: Int(factor.pointee.minor))
        }
        // O(dimension): min/max of diag(L). CHOLMOD's LAPACK and simplicial kernels do not
        // report a NaN pivot (only a non-positive one), so this is also the finiteness check.
        let rcond = cholmod_rcond(factor, common)
        guard common.pointee.status == CHOLMOD_OK else {
            throw CholmodError(status: common.pointee.status, function: "cholmod_rcond")
        }
        guard rcond > 0, rcond.isFinite else {
            throw .other(status: Int(CHOLMOD_OK),
                         "\(function) produced a factor whose diagonal is not finite or whose condition estimate underflows to 0 (overflow in the values, or numerically singular)")
        }
        reciprocalConditionEstimate = rcond
        isFactorized = true
    }

    /// Solves `M X = B` for the factored matrix M, with B given column-major
    /// (`columnCount` columns of `dimension` entries each, one contiguous array).
    ///
    /// The corresponding CHOLMOD function is `cholmod_solve` (system `CHOLMOD_A`).
    func solve(columnMajor rhs: [Double], columnCount: Int) throws(CholmodError) -> [Double] {
        guard isFactorized else {
            throw .invalid("solve needs a successful factorize first")
        }
        guard rhs.count == dimension * columnCount else {
            throw .invalid("right-hand side has \(rhs.count) entries, expected \(dimension) x \(columnCount)")
        }
        if columnCount == 0 { return [] }
        if let bad = rhs.firstIndex(where: { !$0.isFinite }) {
            throw .invalid("right-hand side entry \(bad % dimension) of column \(bad / dimension) is \(rhs[bad])")
        }
        let common = context.common
        let n = dimension
        common.pointee.status = CHOLMOD_OK
        var x: UnsafeMutablePointer<cholmod_dense>? = rhs.withUnsafeBufferPointer { buffer in
            var b = cholmod_dense()
            b.nrow = n
            b.ncol = columnCount
            b.nzmax = n * columnCount
            b.d = n
            b.x = UnsafeMutableRawPointer(mutating: buffer.baseAddress)
            b.z = nil
            b.xtype = CHOLMOD_REAL
            b.dtype = CHOLMOD_DOUBLE
            return cholmod_solve(CHOLMOD_A, factor, &b, common)
        }
        defer { if x != nil { _ = cholmod_free_dense(&x, common) } }
        let status = common.pointee.status
        guard status == CHOLMOD_OK, let result = x, let values = result.pointee.x else {
            throw CholmodError(status: status, function: "cholmod_solve")
        }
        let ld = Int(result.pointee.d)
        let v = values.assumingMemoryBound(to: Double.self)
        var out = [Double](repeating: 0, count: n * columnCount)
        out.withUnsafeMutableBufferPointer { o in
            for c in 0..<columnCount {
                for i in 0..<n { o[c * n + i] = v[c * ld + i] }
            }
        }
        return out
    }

    /// Solves for several right-hand sides at once (one `cholmod_solve`).
    func solve(columns: [[Double]]) throws(CholmodError) -> [[Double]] {
        if columns.isEmpty {
            guard isFactorized else { throw .invalid("solve needs a successful factorize first") }
            return []
        }
        var packed = [Double]()
        packed.reserveCapacity(dimension * columns.count)
        for (c, column) in columns.enumerated() {
            guard column.count == dimension else {
                throw .invalid("right-hand side column \(c) has \(column.count) entries, expected \(dimension)")
            }
            packed.append(contentsOf: column)
        }
        let x = try solve(columnMajor: packed, columnCount: columns.count)
        return (0..<columns.count).map { c in Array(x[c * dimension ..< (c + 1) * dimension]) }
    }
}

/// Calls `body` with a C pointer to `array`'s storage (no copy), or to a one-element
/// stand-in holding `fallback` when `array` is empty (CHOLMOD rejects NULL arrays even
/// when they hold no entries).
func withCPointer<T, R>(_ array: [T], fallback: T, _ body: (UnsafeMutableRawPointer) -> R) -> R {
    array.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress {
            return body(UnsafeMutableRawPointer(mutating: base))
        }
        var one = fallback
        return withUnsafeMutablePointer(to: &one) { body(UnsafeMutableRawPointer($0)) }
    }
}

/// `withCPointer` for a CSR array (owned or borrowed: `CSRBuffer`).
func withCPointer<T, R>(_ array: CSRBuffer<T>, fallback: T, _ body: (UnsafeMutableRawPointer) -> R) -> R {
    array.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress {
            return body(UnsafeMutableRawPointer(mutating: base))
        }
        var one = fallback
        return withUnsafeMutablePointer(to: &one) { body(UnsafeMutableRawPointer($0)) }
    }
}

/// Throws `.invalid` naming the first non-finite entry of `values`.
func requireFinite<C: RandomAccessCollection>(_ values: C, _ what: String) throws(CholmodError) where C.Element == Double, C.Index == Int {
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw .invalid("\(what)[\(bad)] is \(values[bad])")
    }
}
