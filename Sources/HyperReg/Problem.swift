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
        /// In a row-partitioned run: rank `rank` found the error described by `message`
        /// in its block (this rank's data was fine); every rank throws, so none waits.
        case onAnotherRank(rank: Int)
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
    ///
    /// For one rank's block of a distributed matrix (collective): b and w are this block's
    /// slices, row and entry numbers in messages are global, `||b||^2` is summed over the
    /// ranks, and an error found on any rank is thrown on every rank (kind `onAnotherRank`
    /// where this rank's data was fine).
    public init(matrix: CSRMatrix, target: [Double], weights: [Double], function: FunctionKind) throws(ProblemError) {
        let comm = matrix.communicator
        let local = Self.check(matrix: matrix, target: target, weights: weights)
        if comm.isDistributed, let first = comm.firstError(local?.message) {
            if first.rank == comm.rank, let local { throw local }
            throw ProblemError(first.message, kind: .onAnotherRank(rank: first.rank))
        }
        if let local { throw local }
        let localSquares = target.reduce(0) { $0 + $1 * $1 }
        let bb = comm.sum(localSquares)
        guard bb.isFinite else {
            var i = 0
            for k in target.indices where Swift.abs(target[k]) > Swift.abs(target[i]) { i = k }
            let largest = comm.argMaximum(target.isEmpty ? 0 : Swift.abs(target[i]))
            let message = "b entry \(matrix.distribution.rowOffset + i + 1) is \(target.isEmpty ? "0" : fmt(target[i])): ||b||^2 overflows Double, so neither the loss 0.5 ||u(Ax) - <u(Ax),1> b||^2 nor the Newton Hessian (its rank-2 part has ||b||^2) can be evaluated. Scale b down (in the attention setting b sums to 1)."
            var words = Array(message.utf8)
            comm.broadcast(bytes: &words, from: largest.rank)
            if largest.rank == comm.rank {
                throw ProblemError(message, cause: .target(index: matrix.distribution.rowOffset + i + 1, value: target[i]))
            }
            throw ProblemError(String(decoding: words, as: UTF8.self), kind: .onAnotherRank(rank: largest.rank))
        }
        self.matrix = matrix
        self.target = target
        self.weights = weights
        self.function = function
        squaredWeights = weights.map { $0 * $0 }
        targetSquaredNorm = bb
        hasZeroWeights = comm.all(weights.allSatisfy { $0 == 0 })
    }

    /// The first problem with this block's data, or nil (row and entry numbers global).
    private static func check(matrix: CSRMatrix, target: [Double], weights: [Double]) -> ProblemError? {
        let n = matrix.rowCount, first = matrix.distribution.rowOffset
        let globalRows = matrix.globalRowCount
        guard globalRows > 0, matrix.columnCount > 0 else {
            return ProblemError("A is \(globalRows) x \(matrix.columnCount): it needs at least one row and one column",
                                kind: .emptyMatrix(rows: globalRows, columns: matrix.columnCount))
        }
        guard target.count == n else {
            return ProblemError("b has \(target.count) entries but A has \(n) rows", kind: .lengthMismatch(vector: "b", entries: target.count, expected: n))
        }
        guard weights.count == n else {
            return ProblemError("w has \(weights.count) entries but A has \(n) rows", kind: .lengthMismatch(vector: "w", entries: weights.count, expected: n))
        }
        if let e = firstNonFinite(matrix.values) {
            let row = matrix.rowOffsets.lastIndex(where: { $0 <= e }).map { min($0, n - 1) } ?? 0
            return ProblemError("A has a non-finite entry (\(matrix.values[e])) in row \(first + row + 1)",
                               kind: .nonFiniteEntry(.matrix(row: first + row + 1, column: Int(matrix.columnIndices[e]) + 1, value: matrix.values[e])))
        }
        if let i = target.firstIndex(where: { !$0.isFinite }) {
            return ProblemError("b[\(first + i + 1)] = \(target[i]) is not finite", kind: .nonFiniteEntry(.target(index: first + i + 1, value: target[i])))
        }
        if let i = weights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            return ProblemError("w[\(first + i + 1)] = \(weights[i]): weights must be finite and >= 0",
                               kind: weights[i].isFinite ? .negativeWeight(index: first + i + 1, value: weights[i]) : .nonFiniteEntry(.weights(index: first + i + 1, value: weights[i])))
        }
        if let i = weights.firstIndex(where: { !($0 * $0).isFinite }) {
            return ProblemError("w entry \(first + i + 1) is \(fmt(weights[i])): its square overflows Double, so 0.5 ||diag(w) A x||^2 cannot be evaluated (weights must stay below \(fmt(squareLimit)))",
                               cause: .weights(index: first + i + 1, value: weights[i]))
        }
        return nil
    }

    /// The first entry of `values` that is not finite, searched in parallel chunks (the same
    /// answer for any thread count).
    private static func firstNonFinite(_ values: CSRBuffer<Double>) -> Int? {
        let part = RowPartition(rowCount: values.count, maxChunks: 64, minimumRows: 1 << 16)
        return values.withUnsafeBufferPointer { vb in
            let v = SharedReadBuffer(vb)
            return Parallelism.mapChunks(part.count) { c -> Int? in
                part.rows(c).first { !v.buffer[$0].isFinite }
            }.first { $0 != nil } ?? nil
        }
    }

    /// Creates a problem with the same weight `weight` on every row.
    public init(matrix: CSRMatrix, target: [Double], weight: Double, function: FunctionKind) throws(ProblemError) {
        try self.init(matrix: matrix, target: target, weights: [Double](repeating: weight, count: matrix.rowCount), function: function)
    }

    /// True when every weight is zero (then exp can be degenerate, see docs/math.md); over
    /// all ranks for a distributed problem (found once, when the problem is made).
    public let hasZeroWeights: Bool

    /// n of the whole problem (`rowCount` unless this is one rank's block).
    public var globalRowCount: Int { matrix.globalRowCount }
    /// The communicator the problem's sums combine through (`SingleProcess` unless distributed).
    public var communicator: any Communicator { matrix.communicator }
}
