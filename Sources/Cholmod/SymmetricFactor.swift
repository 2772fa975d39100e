internal import CSuiteSparse

/// The Cholesky factor of `K + shift·I` for a `d x d` symmetric matrix K whose sparsity
/// pattern is fixed.
///
/// K is given by its upper triangle in compressed-sparse-column form: column `j` holds the
/// row indices `rowIndices[columnOffsets[j] ..< columnOffsets[j + 1]]`, strictly increasing
/// and `<= j`; the values come later, in the same order, to `factorize(values:shift:)`.
/// Entries missing from the pattern (including diagonal ones) are zero.
///
/// ```
/// K + shift·I = P' L L' P      (P: the fill-reducing permutation, chosen once)
/// ```
///
/// `init` does the symbolic analysis once; each `factorize` is numeric only and reuses it,
/// as a Newton iteration with a fixed Hessian pattern wants. A `factorize` that throws
/// `.notPositiveDefinite` leaves the object ready for another `factorize` (e.g. with a
/// larger shift).
///
/// Not thread-safe; keeps its context alive.
public final class SymmetricFactor {
    /// The matrix is `dimension x dimension`.
    public let dimension: Int
    private let columnOffsets: [Int32]
    private let rowIndices: [Int32]
    let storage: FactorStorage

    /// Checks the pattern and runs CHOLMOD's symbolic analysis (ordering, elimination tree,
    /// column counts, supernodes) on it.
    ///
    /// The corresponding CHOLMOD function is `cholmod_analyze`, on an `stype = 1` (upper
    /// triangle) view of the pattern.
    ///
    /// - Parameters:
    ///   - context: the CHOLMOD workspace; kept alive by the factor.
    ///   - dimension: d, at least 1 and at most `Int32.max`.
    ///   - columnOffsets: `d + 1` non-decreasing offsets, starting at 0 and ending at
    ///     `rowIndices.count`.
    ///   - rowIndices: the rows of each column's stored entries, strictly increasing and in
    ///     `0 ... j` within column j.
    ///   - ordering: the fill-reducing ordering.
    /// - Throws: `.invalid` naming the first inconsistency in the pattern, `.tooLarge` for a
    ///   dimension beyond `Int32.max`, or the status of a failed analysis.
    public init(context: CholmodContext, dimension: Int, columnOffsets: [Int32], rowIndices: [Int32],
                ordering: CholmodOrdering = .automatic) throws(CholmodError) {
        guard dimension > 0 else { throw .invalid("dimension is \(dimension), expected at least 1") }
        guard dimension < Int(Int32.max) else { throw .tooLarge }
        try Self.validatePattern(dimension: dimension, columnOffsets: columnOffsets, rowIndices: rowIndices)
        let factor = try context.analyze(ordering: ordering, function: "cholmod_analyze") { common in
            Self.withView(dimension: dimension, columnOffsets: columnOffsets, rowIndices: rowIndices, values: nil) { a in
                cholmod_analyze(a, common)
            }
        }
        self.dimension = dimension
        self.columnOffsets = columnOffsets
        self.rowIndices = rowIndices
        storage = FactorStorage(context: context, dimension: dimension, factor: factor)
    }

    /// Numeric factorisation of `K + shift·I`, reusing the symbolic analysis.
    ///
    /// The corresponding CHOLMOD function is `cholmod_factorize_p` (with `beta = shift`).
    ///
    /// - Parameters:
    ///   - values: K's values in pattern order (`rowIndices.count` finite numbers).
    ///   - shift: added to every diagonal entry (finite; may be 0 or negative).
    /// - Throws: `.notPositiveDefinite(column:)` if `K + shift·I` is not positive definite
    ///   (the factor can be factorized again); `.invalid` for a wrong count or a non-finite
    ///   value; other cases for CHOLMOD failures. After any throw `isFactorized` is false.
    public func factorize(values: [Double], shift: Double = 0) throws(CholmodError) {
        storage.invalidate()
        guard values.count == rowIndices.count else {
            throw .invalid("\(values.count) values for a pattern of \(rowIndices.count) entries")
        }
        guard shift.isFinite else { throw .invalid("shift is \(shift)") }
        try requireFinite(values, "values")
        let (n, offsets, indices) = (dimension, columnOffsets, rowIndices)
        try storage.factorize(function: "cholmod_factorize_p") { factor, common in
            Self.withView(dimension: n, columnOffsets: offsets, rowIndices: indices, values: values) { a in
                var beta = [shift, 0]
                return cholmod_factorize_p(a, &beta, nil, 0, factor, common)
            }
        }
    }

    /// Solves `(K + shift·I) x = rhs` with the current factor.
    ///
    /// The corresponding CHOLMOD function is `cholmod_solve` (system `CHOLMOD_A`).
    ///
    /// - Throws: `.invalid` without a successful `factorize`, for a length other than
    ///   `dimension`, or for a non-finite entry.
    public func solve(_ rhs: [Double]) throws(CholmodError) -> [Double] {
        try storage.solve(columnMajor: rhs, columnCount: 1)
    }

    /// Solves `(K + shift·I) X = B` for several right-hand sides in one `cholmod_solve`.
    ///
    /// - Parameter columns: the columns of B, each of length `dimension`.
    /// - Returns: the columns of X, in the same order.
    public func solve(columns: [[Double]]) throws(CholmodError) -> [[Double]] {
        try storage.solve(columns: columns)
    }

    /// True when CHOLMOD chose a supernodal factor (dense blocks through the BLAS) rather
    /// than a simplicial one; fixed by the analysis.
    public var isSupernodal: Bool { storage.isSupernodal }

    /// Number of numerical entries CHOLMOD stores for L (for a supernodal factor, including
    /// the explicit zeros of its dense blocks); fixed by the analysis.
    public var factorNonzeroCount: Int { storage.storedEntryCount }

    /// True after a successful `factorize`; false before the first one and after any
    /// `factorize` that threw.
    public var isFactorized: Bool { storage.isFactorized }

    /// The fill-reducing ordering: `permutation[k]` is the column of K eliminated at pivot
    /// `k`, which is how to read the column of `.notPositiveDefinite(column: k)`.
    public var permutation: [Int] { storage.permutation }

    /// CHOLMOD's cheap reciprocal condition estimate of the factored matrix,
    /// `(min diag L / max diag L)^2`, or nil without a successful factorisation.
    ///
    /// The corresponding CHOLMOD function is `cholmod_rcond`.
    public var reciprocalConditionEstimate: Double? { storage.reciprocalConditionEstimate }

    // MARK: - Private

    private static func validatePattern(dimension d: Int, columnOffsets: [Int32], rowIndices: [Int32]) throws(CholmodError) {
        guard columnOffsets.count == d + 1 else {
            throw .invalid("columnOffsets has \(columnOffsets.count) entries, expected dimension + 1 = \(d + 1)")
        }
        guard columnOffsets[0] == 0 else { throw .invalid("columnOffsets[0] is \(columnOffsets[0]), expected 0") }
        guard Int(columnOffsets[d]) == rowIndices.count else {
            throw .invalid("columnOffsets ends at \(columnOffsets[d]) but there are \(rowIndices.count) row indices")
        }
        for j in 0..<d {
            let start = Int(columnOffsets[j]), end = Int(columnOffsets[j + 1])
            guard start <= end else { throw .invalid("columnOffsets decreases at column \(j)") }
            var previous: Int32 = -1
            for k in start..<end {
                let i = rowIndices[k]
                guard i >= 0, Int(i) <= j else {
                    throw .invalid("column \(j): row index \(i) is outside the upper triangle 0...\(j)")
                }
                guard i > previous else {
                    throw .invalid("column \(j): row indices not strictly increasing at entry \(k)")
                }
                previous = i
            }
        }
    }

    /// Calls `body` with a zero-copy `stype = 1` (upper) CSC view of the arrays; pattern
    /// only when `values` is nil. The view must not escape `body`.
    private static func withView<R>(dimension: Int, columnOffsets: [Int32], rowIndices: [Int32], values: [Double]?,
                                    _ body: (UnsafeMutablePointer<cholmod_sparse>) -> R) -> R {
        withCPointer(columnOffsets, fallback: 0) { p in
            withCPointer(rowIndices, fallback: 0) { i in
                withCPointer(values ?? [], fallback: 0.0) { x in
                    var a = cholmod_sparse()
                    a.nrow = dimension
                    a.ncol = dimension
                    a.nzmax = max(rowIndices.count, 1)
                    a.p = p
                    a.i = i
                    a.nz = nil
                    a.x = values == nil ? nil : x
                    a.z = nil
                    a.stype = 1
                    a.itype = CHOLMOD_INT
                    a.xtype = values == nil ? CHOLMOD_PATTERN : CHOLMOD_REAL
                    a.dtype = CHOLMOD_DOUBLE
                    a.sorted = 1
                    a.packed = 1
                    return body(&a)
                }
            }
        }
    }
}

/// Not thread-safe: it uses its context's `cholmod_common`.
@available(*, unavailable)
extension SymmetricFactor: Sendable {}
