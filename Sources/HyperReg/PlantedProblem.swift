#if canImport(Glibc)
import Glibc
#endif
import SparseCore

/// A generated problem with a known planted solution (`hyperreg generate`).
///
/// * A: n x d, each entry present independently with probability `density`
///   (geometric skipping, O(nnz) draws). Values are standard normal for exp and cosh;
///   for sinh they are |N(0,1)|, and x_true > 0, so that sum(sinh(A x_true)) is safely
///   positive and b is a probability vector.
/// * x_true: N(0, s^2) entries (sinh: |N(0, s^2)|) with s = `scale` / sqrt(expected nonzeros per
///   row), so that (A x_true)_i is about N(0, scale^2): moderate, far from overflow.
/// * b = f(A x_true) / sum(f(A x_true)), optionally times exp(noise * N(0,1)) entrywise
///   and renormalised.
/// * w = `weight` on every row.
/// * `columnScaleRange` R > 1 (ill-conditioning): column j of A is multiplied by
///   `R^(j/(d-1) - 1/2)` (log-spaced from R^-1/2 to R^1/2) and x_true_j divided by it, so
///   A x_true, b and the random draws are those of R = 1 while cond(A) grows by about R.
///
/// With `noise = 0` the fit term vanishes at x_true, so with `weight = 0` x_true is a global
/// minimiser (for cosh and sinh, so is -x_true's mirror where u is even/odd).
public struct PlantedProblem: Sendable {
    /// A.
    public var matrix: CSRMatrix
    /// b.
    public var target: [Double]
    /// w.
    public var weights: [Double]
    /// The planted x.
    public var xTrue: [Double]
    /// The function used.
    public var function: FunctionKind

    /// Settings of the generator.
    public struct Settings: Sendable {
        /// n.
        public var rows: Int
        /// d.
        public var columns: Int
        /// Probability that an entry of A is stored.
        public var density: Double
        /// The function u.
        public var function: FunctionKind = .exp
        /// The weight w_i of every row.
        public var weight: Double = 1
        /// Seed of the whole construction.
        public var seed: UInt64 = 1
        /// Multiplicative log-normal noise on b (0 = none).
        public var noise: Double = 0
        /// Standard deviation of (A x_true)_i, about.
        public var scale: Double = 0.5
        /// Ratio of the largest to the smallest column scale factor (1 = no column scaling).
        public var columnScaleRange: Double = 1
        /// Creates settings for an n x d problem of the given density.
        public init(rows: Int, columns: Int, density: Double) {
            self.rows = rows; self.columns = columns; self.density = density
        }

        /// Checks every setting; the one place the generator's rules live (the command line
        /// words the same errors with its option names).
        public func validate() throws(SettingsError) {
            guard rows >= 1, columns >= 1 else { throw .size(rows: rows, columns: columns) }
            guard columns <= Int(Int32.max) else { throw .size(rows: rows, columns: columns) }
            guard density > 0, density <= 1, density.isFinite else { throw .density(density) }
            guard weight >= 0, weight.isFinite else { throw .weight(weight) }
            guard noise >= 0, noise.isFinite else { throw .noise(noise) }
            guard scale > 0, scale.isFinite else { throw .scale(scale) }
            guard columnScaleRange >= 1, columnScaleRange.isFinite else { throw .columnScaleRange(columnScaleRange) }
            let expected = Double(rows) * Double(columns) * density
            guard expected < 2e9 else { throw .tooManyNonzeros(expected: expected) }
        }
    }

    /// A setting out of range, with the offending value.
    public enum SettingsError: Error, Equatable, Sendable, CustomStringConvertible {
        /// rows or columns below 1, or more than 2^31 - 1 columns.
        case size(rows: Int, columns: Int)
        /// density outside (0, 1].
        case density(Double)
        /// a negative or non-finite weight.
        case weight(Double)
        /// a negative or non-finite noise level.
        case noise(Double)
        /// a scale that is not finite and > 0.
        case scale(Double)
        /// a column scale range that is not finite and >= 1.
        case columnScaleRange(Double)
        /// about `expected` nonzeros, beyond the 2e9 supported.
        case tooManyNonzeros(expected: Double)

        public var description: String {
            switch self {
            case .size(let n, let d):
                return d > Int(Int32.max) ? "columns must be <= \(Int32.max), got \(d)" : "rows and columns must be >= 1 (got \(n) x \(d))"
            case .density(let p): return "density must be in (0, 1], got \(p)"
            case .weight(let w): return "weight must be finite and >= 0, got \(w)"
            case .noise(let v): return "noise must be finite and >= 0, got \(v)"
            case .scale(let v): return "scale must be finite and > 0, got \(v)"
            case .columnScaleRange(let r): return "column scale range must be finite and >= 1, got \(r)"
            case .tooManyNonzeros(let e): return "about \(Int(e)) nonzeros requested; at most 2e9 are supported"
            }
        }
    }

    /// Generates a problem; the same settings give the same bits.
    /// - Throws: `ProblemError` (its message from `SettingsError`) for settings out of range.
    public static func generate(_ settings: Settings) throws(ProblemError) -> PlantedProblem {
        do { try settings.validate() } catch { throw ProblemError(error.description, kind: .settings(error)) }
        let n = settings.rows, d = settings.columns, p = settings.density
        let expected = Double(n) * Double(d) * p
        var rng = SeededGenerator(seed: settings.seed)
        let positive = settings.function == .sinh
        // A, row by row, with geometric gaps between stored entries.
        var offsets = [Int](repeating: 0, count: n + 1)
        var cols = [Int32]()
        var vals = [Double]()
        cols.reserveCapacity(Int(expected * 1.05) + 16)
        vals.reserveCapacity(Int(expected * 1.05) + 16)
        let logq = p < 1 ? Glibc.log1p(-p) : 0
        for i in 0..<n {
            var j = -1
            while true {
                if p >= 1 { j += 1 } else {
                    let gap = Glibc.floor(Glibc.log(rng.uniformPositive()) / logq)
                    if gap >= Double(d) { break }
                    j += 1 + Int(gap)
                }
                if j >= d { break }
                cols.append(Int32(j))
                let g = rng.gaussian()
                vals.append(positive ? Swift.abs(g) : g)
            }
            offsets[i + 1] = cols.count
        }
        var a = CSRMatrix(uncheckedRowCount: n, columnCount: d, rowOffsets: offsets, columnIndices: cols, values: vals)
        let perRow = max(1.0, Double(d) * p)
        let s = settings.scale / perRow.squareRoot()
        var xTrue = [Double](repeating: 0, count: d)
        for j in 0..<d {
            let g = rng.gaussian() * s
            xTrue[j] = positive ? Swift.abs(g) : g
        }
        if settings.columnScaleRange > 1 {
            // After every random draw, so the stream (and A x_true) match the unscaled problem.
            let factors = (0..<d).map { j in
                Glibc.pow(settings.columnScaleRange, (d > 1 ? Double(j) / Double(d - 1) : 0.5) - 0.5)
            }
            a = CSRMatrix(uncheckedRowCount: n, columnCount: d, rowOffsets: offsets, columnIndices: cols,
                          values: zip(cols, vals).map { $1 * factors[Int($0)] })
            for j in 0..<d { xTrue[j] /= factors[j] }
        }
        let z = a.multiply(xTrue)
        var u = z.map { settings.function.value($0) }
        if settings.noise > 0 {
            for i in 0..<n { u[i] *= Glibc.exp(settings.noise * rng.gaussian()) }
        }
        let total = u.reduce(0, +)
        guard total.isFinite, total > 0 else { throw ProblemError("sum of f(A x_true) is \(total); cannot normalise b") }
        let b = u.map { $0 / total }
        return PlantedProblem(matrix: a, target: b, weights: [Double](repeating: settings.weight, count: n), xTrue: xTrue, function: settings.function)
    }

    /// The planted problem as a `Problem`.
    public func problem() throws(ProblemError) -> Problem {
        try Problem(matrix: matrix, target: target, weights: weights, function: function)
    }
}
