// The problem's inputs for solve, diagnose and shift: one declaration of the arguments and
// options (their spellings are a public interface), one place for the checks and the error
// messages that name the file.

import ArgumentParser
import Foundation
import HyperReg
import MatrixMarket
import SparseCore

/// A problem read from files, with errors naming the file.
struct ProblemInputs {
    let problem: Problem

    static func read(matrix: String, target: String, weights: String?, weight: Double?, function: FunctionKind,
                     memoryLimit: MemoryLimit) throws -> ProblemInputs {
        let a: CSRMatrix, b: [Double], w: [Double]
        let options = MatrixMarketReadOptions(memoryLimit: memoryLimit.readerLimit)
        do {
            a = try MatrixMarket.readMatrix(from: matrix, options: options).matrix
            b = try MatrixMarket.readVector(from: target, options: options)
            w = try weights.map { try MatrixMarket.readVector(from: $0, options: options) } ?? [Double](repeating: weight ?? 1, count: a.rowCount)
        } catch { throw CLIError("\(error)") }
        guard b.count == a.rowCount else { throw CLIError("\(target): b has \(b.count) entries but \(matrix) has \(a.rowCount) rows") }
        if let path = weights, w.count != a.rowCount { throw CLIError("\(path): w has \(w.count) entries but \(matrix) has \(a.rowCount) rows") }
        if let path = weights, let i = w.firstIndex(where: { !($0 >= 0) }) {
            throw CLIError("\(path): entry \(i + 1) (row \(i + 1) of w) is \(w[i]); weights must be >= 0")
        }
        return ProblemInputs(problem: try problem(a, b, w, function: function, matrix: matrix, target: target, weights: weights, weight: weight))
    }

    /// `Problem(matrix:target:weights:function:)` with its errors worded for the command line:
    /// an overflowing entry (w_i^2, ||b||^2) names its file; in a distributed run a rank whose
    /// data was fine defers to the rank that found the problem (`Distributed.Follower`).
    static func problem(_ a: CSRMatrix, _ b: [Double], _ w: [Double], function: FunctionKind,
                        matrix: String, target: String, weights: String?, weight: Double?) throws -> Problem {
        do { return try Problem(matrix: a, target: b, weights: w, function: function) } catch {
            if case .onAnotherRank = error.kind { throw Distributed.Follower() }
            guard let cause = error.cause else { throw CLIError("\(error)") }
            throw CLIError("\(inputPath(of: cause, matrix: matrix, target: target, weights: weights, weight: weight, start: nil)): \(error)")
        }
    }

    static func readVector(_ path: String, expected: Int, what: String, matrix: String) throws -> [Double] {
        let v: [Double]
        do { v = try MatrixMarket.readVector(from: path) } catch { throw CLIError("\(error)") }
        guard v.count == expected else { throw CLIError("\(path): \(what) has \(v.count) entries but \(matrix) has \(expected) columns") }
        if let i = v.firstIndex(where: { !$0.isFinite }) { throw CLIError("\(path): entry \(i + 1) of \(what) is \(v[i]), not finite") }
        return v
    }
}

/// Where the input entry blamed by `cause` came from, for the start of a message: the file
/// of A, b, w or x0 (`start`, or "the start point" when computed), `--weight W` for a
/// uniform weight, and A's file when the cause names no input.
func inputPath(of cause: NonFiniteCause?, matrix: String, target: String, weights: String?, weight: Double?, start: String?) -> String {
    switch cause {
    case .target: return target
    case .weights: return weights ?? "--weight \(formatNumber(weight ?? 1))"
    case .start: return start ?? "the start point"
    case .matrix, .arithmetic, nil: return matrix
    }
}


/// A command that takes a problem through a `ProblemOptions` group; the group's fields read
/// as the command's own.
protocol ProblemCommand {
    /// The shared problem options.
    var problemOptions: ProblemOptions { get }
}

extension ProblemCommand {
    /// Path of A.
    var matrix: String { problemOptions.matrix }
    /// Path of b.
    var target: String { problemOptions.target }
    /// Path of w, if given.
    var weights: String? { problemOptions.weights }
    /// One weight for every row, if given.
    var weight: Double? { problemOptions.weight }
    /// The function u.
    var function: FunctionKind { problemOptions.function }
}

/// `A.mtx b.mtx [--weights w.mtx | --weight W] [--function F]`, shared by the commands that
/// take a problem.
struct ProblemOptions: ParsableArguments {
    @Argument(help: "The matrix A (n x d), Matrix Market.")
    var matrix: String

    @Argument(help: "The target b (n x 1), Matrix Market.")
    var target: String

    @Option(name: .long, help: "Row weights w (n x 1), Matrix Market. Excludes --weight.")
    var weights: String?

    // .unconditional: "--weight -1" is a (rejected) value, not a missing value followed by
    // an option "-1".
    @Option(name: .long, parsing: .unconditional, help: "The same weight w_i = W for every row (default 1).")
    var weight: Double?

    @Option(name: .long, help: "The function u: exp, cosh or sinh.")
    var function: FunctionKind = .exp

    @Option(name: .long, help: ArgumentHelp("Refuse, before reading, a problem whose estimated memory exceeds this (bytes, or with k, M, G, T: 8G, 512M). Default: the memory available now, or ulimit -v if lower.", valueName: "size"))
    var memoryLimit: String?

    func validate() throws {
        if weights != nil && weight != nil { throw ValidationError("--weights and --weight exclude each other") }
        if let w = weight, !(w.isFinite && w >= 0) { throw ValidationError("--weight must be finite and >= 0, got \(formatNumber(w))") }
        if let text = memoryLimit, parseMemorySize(text) == nil {
            throw ValidationError("--memory-limit must be a positive size such as 8G, 512M or 1000000000, got '\(text)'")
        }
    }

    /// The memory limit in force: `--memory-limit`, else what the machine allows now.
    var limit: MemoryLimit { MemoryLimit.current(option: memoryLimit.flatMap(parseMemorySize)) }

    /// The input paths (for the one-stdin rule).
    var paths: [String] { [matrix, target] + (weights.map { [$0] } ?? []) }

    /// Checks the shapes and the memory plan from the headers (`columnVectors`: the
    /// command's d-vectors), then reads and checks the problem; errors name the file.
    func read(columnVectors: [(String, String?)] = [], dense: Bool = false) throws -> Problem {
        let limit = self.limit
        try MemoryPlan.check(matrix: matrix, rowVectors: [("b", target), ("w", weights)], columnVectors: columnVectors,
                             limit: limit, dense: dense)
        return try ProblemInputs.read(matrix: matrix, target: target, weights: weights, weight: weight, function: function,
                                      memoryLimit: limit).problem
    }
}
