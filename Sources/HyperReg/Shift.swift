// The in-context-learning shift of Corollary F.2 (Lemmas E.2-E.9), computed exactly
// (docs/theory.md, "Corollary F.2"):
//
//   part 1 (iterate moves, A fixed):  delta_b = (c(x_{t+1}) - c(x_t)) / alpha(x_t)
//   part 2 (data moves, x fixed):     delta_b = (c_{A_{t+1}}(x) - c_{A_t}(x)) / alpha_{A_t}(x)
//
// so that u(x_t) - alpha(x_t) (b - delta_b) = c(x_{t+1}) entry by entry (Lemma E.2's
// chosen solution): the shifted problem's fit term at x_t equals the original fit term at
// x_{t+1}. The explicit constant behind "M = exp(O(R^2 + log n))" is the product of the
// lemmas' bounds:
//
//   ||delta_b|| = |alpha^{-1}| ||Delta c||                      (Lemma E.2, an equality)
//   |alpha^{-1}| <= e^{R^2}                                     (Lemma E.3 / E.6)
//   ||Delta c|| <= ||Delta u|| + |Delta alpha| ||b||            (Lemma D.4 / E.9)
//   |Delta alpha| <= sqrt(n) ||Delta u||                        (Lemma D.3 / E.8)
//   ||Delta u|| <= 2 sqrt(n) R e^{R^2} ||step||                 (Lemma D.2 / E.7, needs ||A step||_inf < 0.01)
//
//   M_explicit = 2 sqrt(n) R (1 + sqrt(n) ||b||) e^{2 R^2}

#if canImport(Glibc)
import Glibc
#endif
import SparseCore

/// Which part of Corollary F.2.
public enum ShiftPart: String, Sendable {
    /// Part 1: x_t -> x_{t+1} with A fixed.
    case iterate
    /// Part 2: A_t -> A_{t+1} with x fixed.
    case data
}

/// The target shift of Corollary F.2 with every intermediate quantity of its proof.
public struct InContextShift: Sendable {
    /// Part 1 or part 2.
    public let part: ShiftPart
    /// n.
    public let rowCount: Int
    /// delta_b (n): the shifted target is b~ = b - delta_b.
    public let deltaB: [Double]
    /// ||delta_b||_2.
    public let deltaBNorm: Double
    /// ||x_{t+1} - x_t||_2 (part 1) or ||A_{t+1} - A_t||_2 (part 2, Lanczos).
    public let moveNorm: Double
    /// ||A (x_{t+1} - x_t)||_inf (part 1) or ||(A_{t+1} - A_t) x||_inf (part 2).
    public let maxAbsArgumentChange: Double
    /// alpha before and after the move.
    public let alphaFrom: Double, alphaTo: Double
    /// ||u_after - u_before||, |alpha_after - alpha_before|, ||c_after - c_before||.
    public let uDifferenceNorm: Double, alphaDifference: Double, cDifferenceNorm: Double
    /// ||A|| (max over A_t, A_{t+1} in part 2), ||x|| (max over x_t, x_{t+1} in part 1), ||b||.
    public let normA: Double, normX: Double, normB: Double
    /// R: the given radius or max(||A||, ||x||, ||b||).
    public let radius: Double
    /// e^{R^2}, the bound on |alpha^{-1}| (Lemma E.3/E.6).
    public let alphaInverseBound: LargeNumber
    /// 2 sqrt(n) R e^{R^2}, the Lipschitz bound on u (Lemma D.2/E.7).
    public let uLipschitzBound: LargeNumber
    /// 1 + sqrt(n) ||b||, from Lemma D.3/E.8 and D.4/E.9.
    public let cFactor: Double
    /// M_explicit = e^{R^2} (1 + sqrt(n) ||b||) 2 sqrt(n) R e^{R^2}.
    public let constant: LargeNumber
    /// M_explicit * moveNorm, the corollary's bound on ||delta_b|| (nil when moveNorm = 0).
    public let bound: LargeNumber?
    /// The corollary's conditions with verdicts: `argument_change_below_0.01`, `radius_at_least_4`,
    /// `norms_within_radius`, `alpha_inverse_bound` (|alpha^{-1}| <= e^{R^2}, which sinh can break).
    public let conditions: [ConditionCheck]
    /// The shifted problem's fit term at the fixed point, 0.5 ||u - alpha (b - delta_b)||^2,
    /// computed through an `Objective` for the target b - delta_b.
    public let shiftedFitLoss: Double
    /// The original problem's fit term after the move, 0.5 ||c_after||^2.
    public let originalFitLoss: Double
    /// ||c~(fixed point) - c_after||_2 / ||u_after||_2, with c~ the shifted problem's residual
    /// u - alpha (b - delta_b): zero in exact arithmetic (Lemma E.2), a few ulps in practice
    /// (scaled by ||u||, the size of the terms that cancel in c).
    public let identityResidual: Double
    /// 0.5 ||w o A x||^2 before and after the move (the corollary's problem has no such term).
    public let regularizationFrom: Double, regularizationTo: Double

    /// ||delta_b|| / moveNorm (nil when the move is zero).
    public var ratio: Double? { moveNorm > 0 ? deltaBNorm / moveNorm : nil }

    /// Part 1: the shift that moving x_t to x_{t+1} makes (A, b, w, u from `problem`).
    ///
    /// - Throws: `ProblemError` when u overflows, alpha(x_t) = 0 (delta_b undefined), or a
    ///   length is wrong.
    public static func iterate(problem: Problem, from x0: [Double], to x1: [Double], radius: Double? = nil) throws(ProblemError) -> InContextShift {
        let d = problem.columnCount
        guard x0.count == d else { throw ProblemError("x_t has \(x0.count) entries but A has \(d) columns", kind: .lengthMismatch(vector: "x_t", entries: x0.count, expected: d)) }
        guard x1.count == d else { throw ProblemError("x_{t+1} has \(x1.count) entries but A has \(d) columns", kind: .lengthMismatch(vector: "x_{t+1}", entries: x1.count, expected: d)) }
        let objective = Objective(problem: problem)
        let before = objective.evaluate(x0), after = objective.evaluate(x1)
        let step = zip(x1, x0).map { $0 - $1 }
        // magnitude(): a NaN entry counts as infinite (Swift.max(m, .nan) would drop it and
        // let the condition "< 0.01" pass).
        let argChange = problem.matrix.multiply(step).reduce(0) { Swift.max($0, magnitude($1)) }
        let normA = normalNorm(problem.matrix)
        return try make(part: .iterate, problem: problem, before: before, after: after, fixedX: x0, moveNorm: norm2(step),
                        argumentChange: argChange, normA: normA, normX: Swift.max(norm2(x0), norm2(x1)), radius: radius)
    }

    /// Part 2: the shift that changing the data A_t (in `problem`) to `matrixTo` makes at x.
    ///
    /// - Throws: `ProblemError` when the shapes differ, u overflows or alpha = 0.
    public static func data(problem: Problem, matrixTo: CSRMatrix, at x: [Double], radius: Double? = nil) throws(ProblemError) -> InContextShift {
        let a0 = problem.matrix
        guard matrixTo.rowCount == a0.rowCount, matrixTo.columnCount == a0.columnCount else {
            throw ProblemError("A_{t+1} is \(matrixTo.rowCount) x \(matrixTo.columnCount) but A_t is \(a0.rowCount) x \(a0.columnCount)")
        }
        guard x.count == a0.columnCount else { throw ProblemError("x has \(x.count) entries but A has \(a0.columnCount) columns", kind: .lengthMismatch(vector: "x", entries: x.count, expected: a0.columnCount)) }
        let moved = try Problem(matrix: matrixTo, target: problem.target, weights: problem.weights, function: problem.function)
        let before = Objective(problem: problem).evaluate(x), after = Objective(problem: moved).evaluate(x)
        var builder = CoordinateBuilder(rowCount: a0.rowCount, columnCount: a0.columnCount)
        for (m, sign) in [(matrixTo, 1.0), (a0, -1.0)] {
            for i in 0..<m.rowCount {
                for k in m.rowOffsets[i]..<m.rowOffsets[i + 1] { builder.append(row: i, column: Int(m.columnIndices[k]), value: sign * m.values[k]) }
            }
        }
        let difference = builder.build()
        let argChange = difference.multiply(x).reduce(0) { Swift.max($0, magnitude($1)) }
        let normA = Swift.max(normalNorm(a0), normalNorm(matrixTo))
        return try make(part: .data, problem: problem, before: before, after: after, fixedX: x, moveNorm: normalNorm(difference),
                        argumentChange: argChange, normA: normA, normX: norm2(x), radius: radius)
    }

    private static func make(part: ShiftPart, problem: Problem, before: Evaluation, after: Evaluation, fixedX: [Double], moveNorm: Double,
                             argumentChange: Double, normA: Double, normX: Double, radius: Double?) throws(ProblemError) -> InContextShift {
        let n = problem.rowCount
        for (e, label) in [(before, "before"), (after, "after")] where !(e.isFinite && e.maxAbsZ <= problem.function.overflowThreshold) {
            throw ProblemError("overflow \(label) the move: |(Ax)_\(e.maxAbsZRow + 1)| = \(e.maxAbsZ) exceeds \(problem.function.overflowThreshold)")
        }
        guard before.alpha != 0 else {
            throw ProblemError("alpha = <u(Ax_t), 1> = 0 (possible for sinh): delta_b = (c(x_{t+1}) - c(x_t)) / alpha is undefined")
        }
        let deltaC = zip(after.c, before.c).map { $0 - $1 }
        let deltaB = deltaC.map { $0 / before.alpha }
        guard deltaB.allSatisfy({ $0.isFinite }) else {
            throw ProblemError("alpha = <u(Ax_t), 1> = \(before.alpha) is so small that delta_b = (c(x_{t+1}) - c(x_t)) / alpha overflows")
        }
        let uDiff = norm2(zip(after.u, before.u).map { $0 - $1 })
        let normB = problem.targetSquaredNorm.squareRoot()
        let measuredR = Swift.max(normA, normX, normB)
        let r = radius ?? measuredR
        let sqrtN = Double(n).squareRoot()
        let lnAlphaInv = r * r
        let lnULip = Glibc.log(2 * sqrtN * r) + r * r
        let cFactor = 1 + sqrtN * normB
        let lnM = lnAlphaInv + Glibc.log(cFactor) + lnULip
        // The shifted problem, evaluated independently at the fixed point.
        let shiftedTarget = zip(problem.target, deltaB).map { $0 - $1 }
        let shifted = try Problem(matrix: problem.matrix, target: shiftedTarget, weights: problem.weights, function: problem.function)
        let shiftedEval = Objective(problem: shifted).evaluate(fixedX)
        let conditions = [
            ConditionCheck(code: "argument_change_below_0.01",
                           statement: part == .iterate ? "||A (x_{t+1} - x_t)||_inf < 0.01" : "||(A_{t+1} - A_t) x||_inf < 0.01",
                           holds: argumentChange < 0.01),
            ConditionCheck(code: "radius_at_least_4", statement: "R >= 4", holds: r >= 4),
            ConditionCheck(code: "norms_within_radius", statement: "||A||, ||x||, ||b|| <= R", holds: measuredR <= r),
            ConditionCheck(code: "alpha_inverse_bound", statement: "|alpha(x_t)^{-1}| <= e^{R^2} (Lemma E.3)",
                           holds: -Glibc.log(Swift.abs(before.alpha)) <= lnAlphaInv),
        ]
        return InContextShift(
            part: part, rowCount: n, deltaB: deltaB, deltaBNorm: norm2(deltaB), moveNorm: moveNorm, maxAbsArgumentChange: argumentChange,
            alphaFrom: before.alpha, alphaTo: after.alpha, uDifferenceNorm: uDiff, alphaDifference: Swift.abs(after.alpha - before.alpha),
            cDifferenceNorm: norm2(deltaC), normA: normA, normX: normX, normB: normB, radius: r,
            alphaInverseBound: LargeNumber(naturalLog: lnAlphaInv), uLipschitzBound: LargeNumber(naturalLog: lnULip), cFactor: cFactor,
            constant: LargeNumber(naturalLog: lnM), bound: moveNorm > 0 ? LargeNumber(naturalLog: lnM + Glibc.log(moveNorm)) : nil,
            conditions: conditions, shiftedFitLoss: shiftedEval.fitLoss, originalFitLoss: after.fitLoss,
            identityResidual: norm2(zip(shiftedEval.c, after.c).map { $0 - $1 }) / Swift.max(norm2(after.u), Double.leastNormalMagnitude),
            regularizationFrom: before.regularizationLoss, regularizationTo: after.regularizationLoss)
    }

    /// ||M||_2 of a sparse matrix: Lanczos on M^T M (two passes per step), power iteration
    /// should LAPACK fail on the small tridiagonal matrix.
    static func normalNorm(_ m: CSRMatrix) -> Double {
        let options = DiagnosticsOptions()
        let multiply = { (v: [Double]) in m.transposeMultiply(m.multiply(v)) }
        if let top = try? lanczosExtremes(dimension: m.columnCount, seed: 11, options: options, multiply) {
            return Swift.max(top.max, 0).squareRoot()
        }
        return spectralNorm(dimension: m.columnCount, seed: 11, options: options, multiply).squareRoot()
    }
}
