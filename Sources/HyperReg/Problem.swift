import SparseCore

/// An error in the data of a problem (shapes, values), raised before any solving.
public struct ProblemError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong, typed, with the offending values.
    public enum Kind: Sendable, Equatable {
        /// A has no rows or no columns.
        case emptyMatrix(rows: Int, columns: Int)
        /// A vector (`b`, `w`, `x_t`, ...) has `entries` entries where `expected` are needed.
        case lengthMismatch(vector: String, entries: Int, expected: Int)
        /// An input entry is NaN or infinite.
        case nonFiniteEntry(NonFiniteCause)
        /// A weight is negative (1-based index).
        case negativeWeight(index: Int, value: Double)
        /// An input entry makes the loss or the Hessian overflow at any x (`cause` too).
        case overflow(NonFiniteCause)
        /// A setting of the planted-problem generator is out of range.
        case settings(PlantedProblem.SettingsError)
        /// Anything else (described by `message` alone).
        case other
    }

    /// What is wrong, in words.
    public let message: String
    /// What is wrong, typed.
    public let kind: Kind
    /// The input entry responsible when a value overflows Double arithmetic (nil otherwise),
    /// so that a caller can name the file it came from.
    public let cause: NonFiniteCause?
    /// Creates the error (`kind` `.overflow(cause)` when a cause is given, else `.other`).
    public init(_ message: String, cause: NonFiniteCause? = nil) {
        self.init(message, kind: cause.map { .overflow($0) } ?? .other, cause: cause)
    }
    /// Creates the error with its kind.
    public init(_ message: String, kind: Kind, cause: NonFiniteCause? = nil) {
        self.message = message
        self.kind = kind
        self.cause = cause
    }
    public var description: String { message }
}

/// One instance of rescaled hyperbolic regression: `A` (n x d), `b` (n), `w` (n), `u`.
///
///     L(x) = 0.5 * || u(Ax) - <u(Ax), 1> b ||^2 + 0.5 * || w o (A x) ||^2
public struct Problem: Sendable {
    /// The design matrix A (n x d), CSR.
    public let matrix: CSRMatrix
    /// The target b (n).
    public let target: [Double]
    /// The row weights w (n); they enter as `0.5 * ||diag(w) A x||^2`.
    public let weights: [Double]
    /// The function u.
    public let function: FunctionKind
    /// `w o w`, precomputed.
    public let squaredWeights: [Double]
    /// `||b||_2^2`, precomputed.
    public let targetSquaredNorm: Double

    /// n.
    public var rowCount: Int { matrix.rowCount }
    /// d.
    public var columnCount: Int { matrix.columnCount }

    /// Creates a problem after checking shapes and values.
    ///
    /// - Throws: `ProblemError` when `b` or `w` do not have n entries, an entry of `A`, `b`
    ///   or `w` is not finite, a weight is negative, A has no rows or no columns, or (with
    ///   `ProblemError.cause` set) a weight's square or `||b||^2` overflows Double: the loss
    ///   and the Newton Hessian's rank-2 part cannot then be evaluated at any x. (A large
    ///   entry of A is not rejected here: whether it overflows depends on x; the solver
    ///   reports it as `Termination.nonFinite`.)
    public init(matrix: CSRMatrix, target: [Double], weights: [Double], function: FunctionKind) throws(ProblemError) {
        let n = matrix.rowCount
        guard n > 0, matrix.columnCount > 0 else {
            throw ProblemError("A is \(n) x \(matrix.columnCount): it needs at least one row and one column",
                               kind: .emptyMatrix(rows: n, columns: matrix.columnCount))
        }
        guard target.count == n else {
            throw ProblemError("b has \(target.count) entries but A has \(n) rows", kind: .lengthMismatch(vector: "b", entries: target.count, expected: n))
        }
        guard weights.count == n else {
            throw ProblemError("w has \(weights.count) entries but A has \(n) rows", kind: .lengthMismatch(vector: "w", entries: weights.count, expected: n))
        }
        if let e = matrix.values.firstIndex(where: { !$0.isFinite }) {
            let row = matrix.rowOffsets.lastIndex(where: { $0 <= e }).map { min($0, n - 1) } ?? 0
            throw ProblemError("A has a non-finite entry (\(matrix.values[e])) in row \(row + 1)",
                               kind: .nonFiniteEntry(.matrix(row: row + 1, column: Int(matrix.columnIndices[e]) + 1, value: matrix.values[e])))
        }
        if let i = target.firstIndex(where: { !$0.isFinite }) {
            throw ProblemError("b[\(i + 1)] = \(target[i]) is not finite", kind: .nonFiniteEntry(.target(index: i + 1, value: target[i])))
        }
        if let i = weights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw ProblemError("w[\(i + 1)] = \(weights[i]): weights must be finite and >= 0",
                               kind: weights[i].isFinite ? .negativeWeight(index: i + 1, value: weights[i]) : .nonFiniteEntry(.weights(index: i + 1, value: weights[i])))
        }
        if let i = weights.firstIndex(where: { !($0 * $0).isFinite }) {
            throw ProblemError("w entry \(i + 1) is \(fmt(weights[i])): its square overflows Double, so 0.5 ||diag(w) A x||^2 cannot be evaluated (weights must stay below \(fmt(squareLimit)))",
                               cause: .weights(index: i + 1, value: weights[i]))
        }
        let bb = target.reduce(0) { $0 + $1 * $1 }
        guard bb.isFinite else {
            var i = 0
            for k in target.indices where Swift.abs(target[k]) > Swift.abs(target[i]) { i = k }
            throw ProblemError("b entry \(i + 1) is \(fmt(target[i])): ||b||^2 overflows Double, so neither the loss 0.5 ||u(Ax) - <u(Ax),1> b||^2 nor the Newton Hessian (its rank-2 part has ||b||^2) can be evaluated. Scale b down (in the attention setting b sums to 1).",
                               cause: .target(index: i + 1, value: target[i]))
        }
        self.matrix = matrix
        self.target = target
        self.weights = weights
        self.function = function
        squaredWeights = weights.map { $0 * $0 }
        targetSquaredNorm = bb
    }

    /// Creates a problem with the same weight `weight` on every row.
    public init(matrix: CSRMatrix, target: [Double], weight: Double, function: FunctionKind) throws(ProblemError) {
        try self.init(matrix: matrix, target: target, weights: [Double](repeating: weight, count: matrix.rowCount), function: function)
    }

    /// True when every weight is zero (then exp can be degenerate, see docs/math.md).
    public var hasZeroWeights: Bool { weights.allSatisfy { $0 == 0 } }
}
