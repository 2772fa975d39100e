// The degenerate cases of the problem that need a computation (docs/math.md, "Degenerate
// cases"), done one way for both users: the solver's end-of-run warnings (SolveSummary) and
// the theory diagnostics (`TheoryDiagnostics`, `hyperreg diagnose`).

import Cholmod
import SparseCore

/// Whether the all-ones vector lies (nearly) in range(A). With exp and w = 0 that makes the
/// problem degenerate: for A y = 1, L(x + t y) = e^{2t} L(x), so L has no minimiser unless it
/// reaches 0, and then a whole line of them.
enum OnesInRange {
    /// Below this root-mean-square residual per row the all-ones vector counts as (nearly)
    /// in range(A). An exact fit gives round-off (1e-15 for the intercept problems of the
    /// tests); generic sparse A give 0.1 and above; 1e-3 leaves room for a fit that is exact
    /// up to rounding of the data.
    static let cutoff = 1e-3

    /// `min_y ||A y - 1||_2 / sqrt(n)` by the normal equations: `A^T A` assembled once and
    /// factored by CHOLMOD (when it is singular, with a ridge of 1e-12 of its trace, which
    /// leaves an exact fit exact to round-off), then two passes. nil when A has no rows or
    /// the factorisation fails even so.
    static func residual(_ a: CSRMatrix) -> Double? {
        let n = a.globalRowCount  // of the whole matrix in a distributed run (then collective)
        guard n > 0, a.columnCount > 0, let context = try? CholmodContext(),
              let system = try? HessianSystem(matrix: a, context: context) else { return nil }
        let ones = [Double](repeating: 1, count: a.rowCount)
        let k = system.assemble(weights: ones)
        do {
            try system.factorize(values: k, shift: 0)
        } catch {
            let trace = system.meanDiagonal(k) * Double(a.columnCount)
            guard (try? system.factorize(values: k, shift: 1e-12 * Swift.max(trace, 1e-300))) != nil else { return nil }
        }
        guard let y = try? system.solvePlain(a.transposeMultiply(ones)) else { return nil }
        let r = a.multiply(y)
        var s = 0.0
        for i in 0 ..< a.rowCount { s += (r[i] - 1) * (r[i] - 1) }
        s = a.communicator.sum(s)
        let rms = (s / Double(n)).squareRoot()
        return rms.isFinite ? rms : nil
    }

    /// Whether the residual of `a` is below the cut-off (false when it cannot be computed).
    static func holds(_ a: CSRMatrix) -> Bool {
        residual(a).map { $0 < cutoff } ?? false
    }
}
