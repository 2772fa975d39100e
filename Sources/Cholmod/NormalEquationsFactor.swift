internal import CSuiteSparse
import SparseCore

/// The Cholesky factor of the weighted normal-equations matrix of an `n x d` sparse matrix A:
///
/// ```
/// M = Aᵀ diag(s) A + shift·I        (d x d)
/// ```
///
/// A's CSR arrays are the CSC arrays of `F = Aᵀ` (d x n), so A reaches CHOLMOD as an
/// unsymmetric (`stype = 0`) matrix without copying its column indices, and CHOLMOD factors
/// `F̃ F̃ᵀ + βI` directly, with `F̃` the columns of F (rows of A) scaled by `sqrt(s_i)`.
/// Neither `AᵀA` nor anything `n x n` is ever formed. The only copies are an `Int32` copy of
/// A's `n + 1` row offsets (made once) and, when weights are given, one buffer of weighted
/// values that the factor owns and reuses.
///
/// `init` does the symbolic analysis (on the pattern of `AᵀA`) once; each `factorize` is
/// numeric only. A `factorize` that throws `.notPositiveDefinite` (e.g. rank-deficient A
/// with `shift = 0`) leaves the object ready for another `factorize`.
///
/// Not thread-safe; keeps its context and A alive.
public final class NormalEquationsFactor {
    /// d, the number of columns of A (the factored matrix is `d x d`).
    public let dimension: Int
    private let matrix: CSRMatrix
    private let rowOffsets32: [Int32]
    /// `values[e] * sqrt(s_i)`, allocated by the first weighted `factorize`, then reused.
    private var weightedValues: [Double] = []
    let storage: FactorStorage

    /// Checks A and runs CHOLMOD's symbolic analysis of `AᵀA`.
    ///
    /// The corresponding CHOLMOD function is `cholmod_analyze`, on an `stype = 0` view of
    /// `Aᵀ` (d x n).
    ///
    /// - Parameters:
    ///   - context: the CHOLMOD workspace; kept alive by the factor.
    ///   - matrix: A, with at least one column. Its structure is checked again (it may come
    ///     from `CSRMatrix(uncheckedRowCount:...)`) and its values must be finite.
    ///   - ordering: the fill-reducing ordering.
    /// - Throws: `.tooLarge` if A has more than `Int32.max` entries or rows (CHOLMOD's
    ///   `Int32` interface), `.invalid` for an inconsistent structure, no columns or a
    ///   non-finite value, or the status of a failed analysis.
    public init(context: CholmodContext, matrix: CSRMatrix, ordering: CholmodOrdering = .automatic) throws(CholmodError) {
        let n = matrix.rowCount, d = matrix.columnCount
        guard d > 0 else { throw .invalid("A has no columns") }
        guard n >= 0, matrix.rowOffsets.count == n + 1 else {
            throw .invalid("rowOffsets has \(matrix.rowOffsets.count) entries, expected rowCount + 1 = \(n + 1)")
        }
        guard n < Int(Int32.max), d < Int(Int32.max),
              matrix.rowOffsets.allSatisfy({ $0 <= Int(Int32.max) }),
              matrix.nonzeroCount <= Int(Int32.max) else {
            throw .tooLarge
        }
        try Self.validate(matrix)
        try requireFinite(matrix.values, "A.values")
        let offsets = matrix.rowOffsets.map { Int32($0) }
        let factor = try context.analyze(ordering: ordering, function: "cholmod_analyze") { common in
            Self.withView(matrix, rowOffsets: offsets, values: nil) { f in cholmod_analyze(f, common) }
        }
        dimension = d
        self.matrix = matrix
        rowOffsets32 = offsets
        storage = FactorStorage(context: context, dimension: d, factor: factor)
    }

    /// Numeric factorisation of `Aᵀ diag(rowWeights) A + shift·I`, reusing the analysis.
    ///
    /// The corresponding CHOLMOD function is `cholmod_factorize_p` (with `beta = shift`).
    ///
    /// - Parameters:
    ///   - rowWeights: `s`, one finite weight `>= 0` per row of A; nil means all ones (A's
    ///     values are then used in place, with no copy). A zero weight drops its row.
    ///   - shift: added to every diagonal entry (finite).
    /// - Throws: `.notPositiveDefinite(column:)` if the matrix is not positive definite
    ///   (e.g. `A diag(sqrt(s))` rank-deficient with `shift = 0`); `.invalid` for a wrong
    ///   count, a negative or non-finite weight, or a non-finite shift. After any throw
    ///   `isFactorized` is false.
    public func factorize(rowWeights: [Double]? = nil, shift: Double = 0) throws(CholmodError) {
        storage.invalidate()
        guard shift.isFinite else { throw .invalid("shift is \(shift)") }
        let values: CSRBuffer<Double>
        if let weights = rowWeights {
            try fillWeightedValues(weights)
            values = CSRBuffer(weightedValues)
        } else {
            values = matrix.values
        }
        let (a, offsets) = (matrix, rowOffsets32)
        try storage.factorize(function: "cholmod_factorize_p") { factor, common in
            Self.withView(a, rowOffsets: offsets, values: values) { f in
                var beta = [shift, 0]
                return cholmod_factorize_p(f, &beta, nil, 0, factor, common)
            }
        }
    }

    /// Solves `M x = rhs` with the current factor.
    ///
    /// The corresponding CHOLMOD function is `cholmod_solve` (system `CHOLMOD_A`).
    ///
    /// - Throws: `.invalid` without a successful `factorize`, for a length other than
    ///   `dimension`, or for a non-finite entry.
    public func solve(_ rhs: [Double]) throws(CholmodError) -> [Double] {
        try storage.solve(columnMajor: rhs, columnCount: 1)
    }

    /// Solves `M X = B` for several right-hand sides in one `cholmod_solve`.
    ///
    /// - Parameter columns: the columns of B, each of length `dimension`.
    /// - Returns: the columns of X, in the same order.
    public func solve(columns: [[Double]]) throws(CholmodError) -> [[Double]] {
        try storage.solve(columns: columns)
    }

    /// True when CHOLMOD chose a supernodal factor; fixed by the analysis.
    public var isSupernodal: Bool { storage.isSupernodal }

    /// Number of numerical entries CHOLMOD stores for L; fixed by the analysis.
    public var factorNonzeroCount: Int { storage.storedEntryCount }

    /// True after a successful `factorize`; false before the first one and after any
    /// `factorize` that threw.
    public var isFactorized: Bool { storage.isFactorized }

    /// The fill-reducing ordering: `permutation[k]` is the column of A eliminated at pivot
    /// `k`, which is how to read the column of `.notPositiveDefinite(column: k)`.
    public var permutation: [Int] { storage.permutation }

    /// CHOLMOD's cheap reciprocal condition estimate, `(min diag L / max diag L)^2`, or nil
    /// without a successful factorisation.
    ///
    /// The corresponding CHOLMOD function is `cholmod_rcond`.
    public var reciprocalConditionEstimate: Double? { storage.reciprocalConditionEstimate }

    // MARK: - Private

    /// Writes `values[e] * sqrt(weights[i])` into `weightedValues`, after checking weights.
    private func fillWeightedValues(_ weights: [Double]) throws(CholmodError) {
        let n = matrix.rowCount
        guard weights.count == n else {
            throw .invalid("\(weights.count) row weights for a matrix with \(n) rows")
        }
        if let bad = weights.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw .invalid("row weight \(bad) is \(weights[bad]); weights must be finite and >= 0")
        }
        if weightedValues.count != matrix.nonzeroCount {
            weightedValues = [Double](repeating: 0, count: matrix.nonzeroCount)
        }
        let offsets = matrix.rowOffsets
        var overflowRow = -1
        matrix.values.withUnsafeBufferPointer { v in
            weightedValues.withUnsafeMutableBufferPointer { out in
                for i in 0..<n {
                    let scale = weights[i].squareRoot()
                    var finite = true
                    for e in offsets[i]..<offsets[i + 1] {
                        let x = v[e] * scale
                        out[e] = x
                        finite = finite && x.isFinite
                    }
                    if !finite && overflowRow < 0 { overflowRow = i }
                }
            }
        }
        if overflowRow >= 0 {
            throw .invalid("row \(overflowRow) scaled by the square root of its weight \(weights[overflowRow]) overflows")
        }
    }

    /// Checks the CSR invariants CHOLMOD relies on (it does not check them itself).
    private static func validate(_ a: CSRMatrix) throws(CholmodError) {
        let offsets = a.rowOffsets
        guard offsets[0] == 0 else { throw .invalid("rowOffsets[0] is \(offsets[0]), expected 0") }
        guard a.values.count == a.columnIndices.count else {
            throw .invalid("\(a.columnIndices.count) column indices but \(a.values.count) values")
        }
        guard offsets[a.rowCount] == a.columnIndices.count else {
            throw .invalid("rowOffsets ends at \(offsets[a.rowCount]) but there are \(a.columnIndices.count) entries")
        }
        let d = a.columnCount
        for i in 0..<a.rowCount {
            let start = offsets[i], end = offsets[i + 1]
            guard start <= end else { throw .invalid("rowOffsets decreases at row \(i)") }
            var previous: Int32 = -1
            for k in start..<end {
                let j = a.columnIndices[k]
                guard j >= 0, Int(j) < d else { throw .invalid("row \(i): column index \(j) outside 0..<\(d)") }
                guard j > previous else { throw .invalid("row \(i): column indices not strictly increasing at entry \(k)") }
                previous = j
            }
        }
    }

    /// Calls `body` with a zero-copy `stype = 0` view of `Aᵀ` (d x n, CSC = A's CSR);
    /// pattern only when `values` is nil. The view must not escape `body`.
    private static func withView<R>(_ a: CSRMatrix, rowOffsets: [Int32], values: CSRBuffer<Double>?,
                                    _ body: (UnsafeMutablePointer<cholmod_sparse>) -> R) -> R {
        withCPointer(rowOffsets, fallback: 0) { p in
            withCPointer(a.columnIndices, fallback: 0) { i in
                withCPointer(values ?? [], fallback: 0.0) { x in
                    var f = cholmod_sparse()
                    f.nrow = a.columnCount
                    f.ncol = a.rowCount
                    f.nzmax = max(a.nonzeroCount, 1)
                    f.p = p
                    f.i = i
                    f.nz = nil
                    f.x = values == nil ? nil : x
                    f.z = nil
                    f.stype = 0
                    f.itype = CHOLMOD_INT
                    f.xtype = values == nil ? CHOLMOD_PATTERN : CHOLMOD_REAL
                    f.dtype = CHOLMOD_DOUBLE
                    f.sorted = 1
                    f.packed = 1
                    return body(&f)
                }
            }
        }
    }
}

/// Not thread-safe: it uses its context's `cholmod_common`.
@available(*, unavailable)
extension NormalEquationsFactor: Sendable {}
