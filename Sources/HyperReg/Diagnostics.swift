// Theory diagnostics: the quantities of the paper's guarantees (Lemma C.3/C.4, Lemma D.1,
// Theorem F.1) measured at a point x (docs/theory.md).
//
//   ||A||          Lanczos on A^T A (streaming passes)
//   sigma_min(A)   Lanczos on (A^T A)^{-1} (shift-invert) with its CHOLMOD factor
//   l              smallest eigenvalue of the dense Hessian H(x), LAPACK dsyevd (d <= limit);
//                  beyond the limit, Lanczos on Hessian-vector products
//   ||B(x)||       power iteration on the n x n matrix B(x) = diag + rank 2 (Lemma C.3)
//   M_empirical    max over seeded y near x of ||H(x) - H(y)||_2 / ||x - y||, the spectral
//                  norm from the dense difference's eigenvalues (LAPACK)
//   M_theory       n^4 exp(20 R^2) (Lemma D.1), kept as log10 since it overflows Double

#if canImport(Glibc)
import Glibc
#endif
import DenseLinearAlgebra
import Cholmod
import SparseCore

/// An error that stops the diagnostics (overflow at x, a dimension beyond the dense limit,
/// a failed factorisation).
public struct DiagnosticsError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, typed, with the error it came from.
    public enum Kind: Sendable {
        /// The arithmetic overflows at x (`cause` names the entry).
        case overflow(NonFiniteCause)
        /// A dense eigenproblem failed (what was decomposed, the LAPACK error).
        case eigen(of: String, DenseLAPACKError)
        /// CHOLMOD failed with A^T A (the step, the CHOLMOD error).
        case cholmod(during: String, CholmodError)
        /// A^T A cannot be formed (its pattern is too large).
        case structure(SparseStructureError)
        /// Anything else (described by `message` alone).
        case other
    }

    /// What went wrong, in words.
    public let message: String
    /// What went wrong, typed.
    public let kind: Kind
    /// The input entry responsible when the arithmetic overflows (nil otherwise), so that a
    /// caller can name the file it came from.
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

/// Settings of `TheoryDiagnostics.compute`.
public struct DiagnosticsOptions: Sendable {
    /// Largest d for which the Hessian is formed densely and its eigenvalues taken by LAPACK
    /// (O(d^3) time, 8 d^2 bytes per copy). Above it, Lanczos on Hessian-vector products
    /// (two passes over A per step) finds l and the Lipschitz samples.
    public var denseLimit = 3000
    /// Number of points y near x for the empirical Lipschitz estimate.
    public var lipschitzSamples = 4
    /// `||A (y - x)||_inf` of each sample, below Lemma D.1's 0.01.
    public var lipschitzStep = 0.005
    /// Seed of the sample directions.
    public var seed: UInt64 = 1
    /// Iteration cap of the power iteration for ||B(x)|| (n-dimensional, so not Lanczos:
    /// its basis would need steps x n doubles).
    public var maxIterations = 500
    /// Relative change of the power iteration's estimate at which it stops.
    public var iterationTolerance = 1e-12
    /// Lanczos step limit for d above `denseLimit` (memory: steps x d doubles).
    public var lanczosSteps = 300
    /// Lanczos stops when the extreme Ritz values' error estimates (min(r, r^2 / gap)) fall
    /// below this times the spectral radius.
    public var lanczosTolerance = 1e-10
    /// Radius R to check the conditions against; nil: the smallest admissible one,
    /// max(||A||, ||x||, ||b||).
    public var radius: Double?
    /// Creates the defaults.
    public init() {}
}

/// A degenerate case of docs/math.md that applies at the diagnosed point.
public struct DegenerateCase: Sendable, Equatable {
    /// Stable identifier: `stationary_zero`, `sinh_trivial_minimiser`, `exp_unweighted_ones_in_range`,
    /// `indefinite_hessian`, `rank_deficient_a`.
    public let code: String
    /// The case in words.
    public let message: String
}

/// One condition of a lemma or theorem with its verdict.
public struct ConditionCheck: Sendable {
    /// Stable identifier (docs/cli.md).
    public let code: String
    /// The condition as the paper writes it.
    public let statement: String
    /// Whether it holds at the measured values.
    public let holds: Bool
}

/// A positive number that may leave Double's range (M_theory = n^4 e^{20 R^2}, 0.1 l / M):
/// stored as log10, with the value when representable.
public struct LargeNumber: Sendable {
    /// log10 of the number.
    public let log10Value: Double
    /// The number, or nil when it is outside Double's normal range (above about 1.8e308 or
    /// below about 2.2e-308).
    public var value: Double? { (log10Value < 308 && log10Value > -307) ? Glibc.pow(10, log10Value) : nil }
    /// Creates it from its natural logarithm.
    public init(naturalLog: Double) { log10Value = naturalLog / Glibc.log(10.0) }
    /// Creates it from log10.
    public init(log10 v: Double) { log10Value = v }
    /// `1.23e+45` when representable, else `10^1234.5`.
    public var text: String {
        if let v = value { return formatNumber(v) }
        return "10^" + formatFixed(log10Value, digits: 1)
    }
}

/// The measured quantities of the paper's guarantees at a point x.
public struct TheoryDiagnostics: Sendable {
    /// n, d.
    public let rowCount: Int, columnCount: Int
    /// The function.
    public let function: FunctionKind
    /// ||A||_2 (largest singular value, Lanczos on A^T A).
    public let normA: Double
    /// ||x||_2.
    public let normX: Double
    /// ||b||_2.
    public let normB: Double
    /// R used for the conditions: the given radius or max(||A||, ||x||, ||b||).
    public let radius: Double
    /// True when R was given rather than measured.
    public let radiusGiven: Bool
    /// ||u(x)||_2, ||v(x)||_2, ||c(x)||_2.
    public let normU: Double, normV: Double, normC: Double
    /// R0 = max(||u||, ||v||, ||b||, ||c||, 1) (Lemma C.3/C.4).
    public let r0: Double
    /// ||B(x)||_2 of Lemma C.3 (B the n x n matrix with d^2 L_u / dx^2 = A^T B A), which the
    /// lemma bounds by 10 R0^4.
    public let normBMatrix: Double
    /// sigma_min(A) (0 when A^T A is numerically singular).
    public let sigmaMinA: Double
    /// How sigma_min(A) was obtained.
    public let sigmaMinMethod: String
    /// Smallest and largest eigenvalues of H(x).
    public let l: Double, hessianMaxEigenvalue: Double
    /// How l was obtained.
    public let lMethod: String
    /// For Lanczos (d above the dense limit): the residual bound of the extreme Ritz values
    /// (an eigenvalue lies within it of l; l itself is never below the true smallest
    /// eigenvalue). nil for the dense path, exact to rounding.
    public let lResidualBound: Double?
    /// For Lanczos: the error estimate min(r, r^2 / gap) of l and the largest eigenvalue
    /// (Ritz values converge as the square of the residual). nil for the dense path.
    public let lErrorEstimate: Double?
    /// ||g(x)||_2 (Theorem F.1 asks g(x*) = 0).
    public let gradientNorm: Double
    /// L(x).
    public let loss: Double
    /// min_i w_i^2 and the number of rows.
    public let minWeightSquared: Double
    /// Lemma C.4's threshold 10 R0^4 + l / sigma_min^2 evaluated at the measured l, and the
    /// rows below it. Since the lemma proves l >= sigma_min^2 (w_min^2 - 10 R0^4), the weights
    /// clear this threshold only where the lemma is tight; the verdict uses `lGuaranteedByC4`.
    public let lemmaC4Threshold: Double, lemmaC4Violations: Int
    /// Theorem F.1's threshold 100 + l / sigma_min^2 at the measured l, and the rows below it.
    public let theoremF1Threshold: Double, theoremF1Violations: Int
    /// The largest l for which the weights satisfy Lemma C.4's condition,
    /// sigma_min^2 (w_min^2 - 10 R0^4); the condition holds for some l > 0 exactly when it is
    /// positive, and then the lemma promises H(x) >= lGuaranteedByC4 I.
    public let lGuaranteedByC4: Double
    /// The same for Theorem F.1's condition, sigma_min^2 (w_min^2 - 100).
    public let lGuaranteedByF1: Double
    /// M_theory = n^4 exp(20 R^2) (Lemma D.1).
    public let lipschitzTheory: LargeNumber
    /// Largest sampled ||H(x) - H(y)||_2 / ||x - y||.
    public let lipschitzEmpirical: Double
    /// The sampled ratios, one per y.
    public let lipschitzSamples: [Double]
    /// The sampled points y (seeded, so a run repeats them).
    public let lipschitzPoints: [[Double]]
    /// ||A (y - x)||_inf used for the samples.
    public let lipschitzStep: Double
    /// Theorem F.1's convergence radius 0.1 l / M with M = M_theory (nil when l <= 0).
    public let radiusTheory: LargeNumber?
    /// 0.1 l / M_empirical (nil when l <= 0 or M_empirical = 0).
    public let radiusEmpirical: Double?
    /// Relative residual of the least-squares fit of the all-ones vector on A,
    /// ||A y - 1|| / sqrt(n) (0: 1 in range(A)).
    public let onesResidual: Double
    /// Every condition with its verdict: the w conditions, l > 0, R >= 4, the norms <= R.
    public let conditions: [ConditionCheck]
    /// The degenerate cases that apply.
    public let degenerateCases: [DegenerateCase]

    /// The condition with `code`, if present.
    public func condition(_ code: String) -> ConditionCheck? { conditions.first { $0.code == code } }

    /// Measures everything at x.
    ///
    /// - Throws: `DiagnosticsError` when u(Ax) overflows or CHOLMOD/LAPACK fail.
    public static func compute(problem: Problem, at x: [Double], options: DiagnosticsOptions = DiagnosticsOptions()) throws(DiagnosticsError) -> TheoryDiagnostics {
        let a = problem.matrix
        let n = a.rowCount, d = a.columnCount
        precondition(x.count == d, "x has \(x.count) entries for d = \(d)")
        let dense = d <= options.denseLimit
        let objective = Objective(problem: problem)
        let e = objective.evaluate(x)
        guard e.maxAbsZ <= problem.function.overflowThreshold else {
            let (cause, _) = NonFiniteDiagnosis.blameRow(a, row: e.maxAbsZRow, x, atStart: true)
            throw DiagnosticsError("overflow at x: |(Ax)_\(e.maxAbsZRow + 1)| = \(e.maxAbsZ) exceeds \(problem.function.overflowThreshold), where \(problem.function.rawValue) overflows Double (\(cause.entry))", cause: cause)
        }
        guard e.isFinite else {
            let (cause, words) = NonFiniteDiagnosis.evaluation(problem, x, e, atStart: true)
            throw DiagnosticsError("overflow at x: \(words)", cause: cause)
        }
        let pieces = objective.gradientPieces(e)
        // Every quantity below derives from g, p and q: a NaN there would pass the
        // conditions' comparisons as "fails" with meaningless numbers, so stop here.
        guard norm2(pieces.gradient).isFinite, norm2(pieces.p).isFinite, norm2(pieces.q).isFinite else {
            let (cause, words) = NonFiniteDiagnosis.gradient(problem, x, e, objective, pieces, atStart: true)
            throw DiagnosticsError("overflow at x: \(words)", cause: cause)
        }

        // A^T A, its norm and smallest singular value.
        let normal: (normA: Double, sigmaMin: Double, method: String, ones: Double)
        normal = try normalMatrixFacts(a, options: options)
        let normX = norm2(x), normB = problem.targetSquaredNorm.squareRoot()
        let normU = norm2(e.u), normV = norm2(e.v), normC = norm2(e.c)
        let r0 = Swift.max(normU, normV, normB, normC, 1)
        let measuredR = Swift.max(normal.normA, normX, normB)
        let radius = options.radius ?? measuredR

        // The Hessian's extreme eigenvalues: dense LAPACK up to the limit, Lanczos beyond.
        let delta = objective.hessianWeights(e)
        let (hx, l, lMax, lMethod, lResidual, lErrorEstimate) = try hessianExtremes(problem, objective: objective, e: e, pieces: pieces,
                                                                                   delta: delta, dense: dense, options: options)

        // ||B(x)||_2: B = diag(delta - w^2) + ||b||^2 v v^T - v (v o b)^T - (v o b) v^T (n x n).
        let w2 = problem.squaredWeights, b = problem.target
        let bDiag = (0..<n).map { delta[$0] - w2[$0] }
        let vb = (0..<n).map { e.v[$0] * b[$0] }
        let bb = problem.targetSquaredNorm
        let normBMatrix = spectralNorm(dimension: n, seed: options.seed &+ 7, options: options) { s in
            let vs = dot(e.v, s), vbs = dot(vb, s)
            return (0..<n).map { i in bDiag[i] * s[i] + e.v[i] * (bb * vs - vbs) - vb[i] * vs }
        }

        // Empirical Lipschitz constant of H near x.
        let (samples, points) = try lipschitzRatios(problem, x: x, objective: objective, e: e, pieces: pieces, delta: delta,
                                                    hx: dense ? hx : nil, options: options)
        let mEmpirical = samples.max() ?? 0

        // Theory: M = n^4 exp(20 R^2); radius 0.1 l / M.
        let lnM = 4 * Glibc.log(Double(n)) + 20 * radius * radius
        let mTheory = LargeNumber(naturalLog: lnM)
        let radiusTheory = l > 0 ? LargeNumber(naturalLog: Glibc.log(0.1 * l) - lnM) : nil
        let radiusEmpirical = (l > 0 && mEmpirical > 0) ? 0.1 * l / mEmpirical : nil

        // The w conditions.
        let sigma2 = normal.sigmaMin * normal.sigmaMin
        let lOverSigma = sigma2 > 0 ? l / sigma2 : (l > 0 ? Double.infinity : 0)
        let c4 = 10 * Glibc.pow(r0, 4) + lOverSigma
        let f1 = 100 + lOverSigma
        let c4Violations = w2.filter { !($0 >= c4) }.count
        let f1Violations = w2.filter { !($0 >= f1) }.count
        let wMin2 = w2.min() ?? 0
        let lGuaranteed = sigma2 * (wMin2 - 10 * Glibc.pow(r0, 4))
        let lGuaranteedF1 = sigma2 * (wMin2 - 100)
        var conditions = [
            ConditionCheck(code: "lemma_c4_weights", statement: "w_i^2 >= 10 R0^4 + l / sigma_min(A)^2 for all i, for some l > 0 (Lemma C.4): l_C4 = sigma_min^2 (min w_i^2 - 10 R0^4) > 0",
                           holds: lGuaranteed > 0),
            ConditionCheck(code: "theorem_f1_weights", statement: "w_i^2 >= 100 + l / sigma_min(A)^2 for all i, for some l > 0 (Theorem F.1): l_F1 = sigma_min^2 (min w_i^2 - 100) > 0",
                           holds: lGuaranteedF1 > 0),
        ]
        // The lemmas' conclusions, checked where their conditions hold (relative slack 1e-9:
        // l comes from LAPACK, accurate to about 1e-15 ||H||).
        let slack = 1e-9 * Swift.max(Swift.abs(l), Swift.abs(lMax))
        if lGuaranteed > 0 {
            conditions.append(ConditionCheck(code: "lemma_c4_conclusion", statement: "H(x) >= l_C4 I (measured l >= l_C4; Lemma C.4's promise)", holds: l >= lGuaranteed - slack))
        }
        if lGuaranteedF1 > 0 {
            conditions.append(ConditionCheck(code: "theorem_f1_conclusion", statement: "H(x) >= l_F1 I (measured l >= l_F1; what Theorem F.1 uses)", holds: l >= lGuaranteedF1 - slack))
        }
        conditions += [
            ConditionCheck(code: "hessian_positive_definite", statement: "l > 0 (Lemma C.4 asks a positive l)", holds: l > 0),
            ConditionCheck(code: "radius_at_least_4", statement: "R >= 4 (Lemma D.1, Theorem F.1)", holds: radius >= 4),
            ConditionCheck(code: "norms_within_radius", statement: "||A||, ||x||, ||b|| <= R",
                           holds: measuredR <= radius),
        ]

        let cases = degenerateCases(problem, x: x, onesResidual: normal.ones, l: l, sigmaMin: normal.sigmaMin)

        return TheoryDiagnostics(
            rowCount: n, columnCount: d, function: problem.function, normA: normal.normA, normX: normX, normB: normB,
            radius: radius, radiusGiven: options.radius != nil, normU: normU, normV: normV, normC: normC, r0: r0,
            normBMatrix: normBMatrix, sigmaMinA: normal.sigmaMin, sigmaMinMethod: normal.method,
            l: l, hessianMaxEigenvalue: lMax, lMethod: lMethod, lResidualBound: lResidual, lErrorEstimate: lErrorEstimate,
            gradientNorm: norm2(pieces.gradient), loss: e.loss, minWeightSquared: wMin2,
            lemmaC4Threshold: c4, lemmaC4Violations: c4Violations, theoremF1Threshold: f1, theoremF1Violations: f1Violations,
            lGuaranteedByC4: lGuaranteed, lGuaranteedByF1: lGuaranteedF1, lipschitzTheory: mTheory, lipschitzEmpirical: mEmpirical, lipschitzSamples: samples,
            lipschitzPoints: points, lipschitzStep: options.lipschitzStep, radiusTheory: radiusTheory, radiusEmpirical: radiusEmpirical,
            onesResidual: normal.ones, conditions: conditions, degenerateCases: cases)
    }

    /// The Hessian's smallest and largest eigenvalues at x: dense LAPACK (returning the dense
    /// H(x) too) when `dense`, Lanczos on Hessian-vector products otherwise (with its residual
    /// bound and error estimate), and how they were found.
    static func hessianExtremes(_ problem: Problem, objective: Objective, e: Evaluation, pieces: GradientPieces, delta: [Double],
                                dense: Bool, options: DiagnosticsOptions) throws(DiagnosticsError)
        -> (hx: [Double], l: Double, lMax: Double, method: String, residual: Double?, errorEstimate: Double?) {
        let d = problem.columnCount
        let hx: [Double]
        let l: Double, lMax: Double, lMethod: String
        var lResidual: Double? = nil, lErrorEstimate: Double? = nil
        if dense {
            hx = denseHessian(problem, delta: delta, pieces: pieces)
            let eig: [Double]
            do { eig = try DenseSymmetricEigen.eigenvalues(hx, dimension: d) } catch {
                throw DiagnosticsError("eigenvalues of the Hessian: \(error)", kind: .eigen(of: "the Hessian", error))
            }
            (l, lMax) = (eig[0], eig[d - 1])
            lMethod = "dense Hessian, LAPACK dsyevd (d <= \(options.denseLimit))"
        } else {
            hx = []
            let ext = try lanczosExtremes(dimension: d, seed: options.seed &+ 13, options: options) { v in
                objective.hessianVectorProduct(e, pieces: pieces, delta: delta, v)
            }
            (l, lMax) = (ext.min, ext.max)
            lResidual = ext.residual
            let converged = ext.estimate <= options.lanczosTolerance * Swift.max(Swift.abs(ext.min), Swift.abs(ext.max))
            lMethod = "Lanczos on Hessian-vector products, \(ext.steps) steps with full reorthogonalisation (d > \(options.denseLimit)), "
                + (converged ? "converged" : "NOT converged") + ": error estimate \(formatNumber(ext.estimate)), residual bound \(formatNumber(ext.residual))"
            lErrorEstimate = ext.estimate
        }
        return (hx, l, lMax, lMethod, lResidual, lErrorEstimate)
    }

    /// Sampled `||H(x) - H(y)||_2 / ||x - y||` at seeded points y with `||A (y - x)||_inf =
    /// options.lipschitzStep`: from the dense difference when the dense H(x) is given (`hx`),
    /// by Lanczos on Hessian-vector products otherwise. Returns the ratios and the points.
    static func lipschitzRatios(_ problem: Problem, x: [Double], objective: Objective, e: Evaluation, pieces: GradientPieces,
                                delta: [Double], hx: [Double]?, options: DiagnosticsOptions) throws(DiagnosticsError) -> ([Double], [[Double]]) {
        let a = problem.matrix, d = problem.columnCount
        var rng = SeededGenerator(seed: options.seed)
        var samples: [Double] = [], points: [[Double]] = []
        for _ in 0..<options.lipschitzSamples {
            var s = (0..<d).map { _ in rng.gaussian() }
            let As = a.multiply(s)
            let inf = As.reduce(0) { Swift.max($0, magnitude($1)) }
            guard inf > 0, inf.isFinite else { continue }   // s in the null space of A: H(x + s) = H(x)
            let scale = options.lipschitzStep / inf
            for j in 0..<d { s[j] *= scale }
            let y = zip(x, s).map { $0 + $1 }
            let found: Double?
            if let hx {
                found = try hessianLipschitzRatio(problem, x: x, hx: hx, y: y)
            } else {
                let ey = objective.evaluate(y)
                if ey.isFinite {
                    let py = objective.gradientPieces(ey), dy = objective.hessianWeights(ey)
                    let ext = try lanczosExtremes(dimension: d, seed: options.seed &+ 17, options: options) { v in
                        let hxv = objective.hessianVectorProduct(e, pieces: pieces, delta: delta, v)
                        let hyv = objective.hessianVectorProduct(ey, pieces: py, delta: dy, v)
                        return zip(hxv, hyv).map { $0 - $1 }
                    }
                    found = Swift.max(Swift.abs(ext.min), Swift.abs(ext.max)) / norm2(s)
                } else {
                    found = nil
                }
            }
            guard let ratio = found else { continue }
            samples.append(ratio)
            points.append(y)
        }
        return (samples, points)
    }

    /// The degenerate cases that apply at x (docs/theory.md).
    static func degenerateCases(_ problem: Problem, x: [Double], onesResidual: Double, l: Double, sigmaMin: Double) -> [DegenerateCase] {
        var cases: [DegenerateCase] = []
        let xIsZero = x.allSatisfy { $0 == 0 }
        if xIsZero && problem.function != .exp {
            cases.append(DegenerateCase(code: "stationary_zero", message: "x = 0 is a stationary point for \(problem.function.rawValue) (v(0) = sinh(0) = 0 for cosh, c(0) = 0 for sinh): Newton started here stops at once"))
        }
        if problem.function == .sinh {
            cases.append(DegenerateCase(code: "sinh_trivial_minimiser", message: "for sinh, L(0) = 0 for every A, b, w: x = 0 is always a global minimiser; interesting solutions are local minimisers"))
        }
        if problem.function == .exp && problem.hasZeroWeights && onesResidual < OnesInRange.cutoff {
            cases.append(DegenerateCase(code: "exp_unweighted_ones_in_range", message: "exp with w = 0 and the all-ones vector (nearly) in range(A) (least-squares residual \(formatNumber(onesResidual))): a direction with A s = -1 drives L -> 0 without attaining it; the problem has no minimiser, w > 0 makes it well posed"))
        }
        if !(l > 0) {
            cases.append(DegenerateCase(code: "indefinite_hessian", message: "the Hessian at x is not positive definite (smallest eigenvalue \(formatNumber(l))): a Newton step need not descend, Lemma C.4's conclusion fails"))
        }
        if sigmaMin == 0 {
            cases.append(DegenerateCase(code: "rank_deficient_a", message: "A^T A is numerically singular (sigma_min(A) = 0): the w conditions cannot hold"))
        }

        return cases
    }

    /// ||H(x) - H(y)||_2 / ||x - y|| from the dense difference's eigenvalues (LAPACK), given
    /// the dense H(x); nil when u overflows at y or y = x.
    static func hessianLipschitzRatio(_ problem: Problem, x: [Double], hx: [Double], y: [Double]) throws(DiagnosticsError) -> Double? {
        let d = problem.columnCount
        let objective = Objective(problem: problem)
        let ey = objective.evaluate(y)
        let distance = norm2(zip(x, y).map { $0 - $1 })
        guard ey.isFinite, distance > 0 else { return nil }
        let hy = denseHessian(problem, delta: objective.hessianWeights(ey), pieces: objective.gradientPieces(ey))
        let eig: [Double]
        do { eig = try DenseSymmetricEigen.eigenvalues(zip(hx, hy).map { $0 - $1 }, dimension: d) } catch {
            throw DiagnosticsError("eigenvalues of H(x) - H(y): \(error)", kind: .eigen(of: "H(x) - H(y)", error))
        }
        return Swift.max(Swift.abs(eig[0]), Swift.abs(eig[d - 1])) / distance
    }

    /// The dense Hessian `A^T diag(delta) A + ||b||^2 p p^T - p q^T - q p^T` (d x d, row-major).
    static func denseHessian(_ problem: Problem, delta: [Double], pieces: GradientPieces) -> [Double] {
        let a = problem.matrix
        let d = a.columnCount
        var h: [Double]
        if let pattern = try? NormalMatrixPattern(matrix: a) {
            h = pattern.denseSymmetric(pattern.assemble(a, weights: delta))
        } else {
            h = [Double](repeating: 0, count: d * d)
        }
        let p = pieces.p, q = pieces.q, bb = problem.targetSquaredNorm
        for i in 0..<d {
            for j in 0..<d { h[i * d + j] += bb * p[i] * p[j] - p[i] * q[j] - q[i] * p[j] }
        }
        return h
    }

    /// ||A|| (Lanczos on A^T A), sigma_min(A) (Lanczos on the inverse through the CHOLMOD
    /// factor of A^T A), and the relative least-squares residual of 1 on A.
    static func normalMatrixFacts(_ a: CSRMatrix, options: DiagnosticsOptions) throws(DiagnosticsError) -> (normA: Double, sigmaMin: Double, method: String, ones: Double) {
        let d = a.columnCount, n = a.rowCount
        let pattern: NormalMatrixPattern
        do { pattern = try NormalMatrixPattern(matrix: a) } catch { throw DiagnosticsError("A^T A: \(error)", kind: .structure(error)) }
        let k = pattern.assemble(a, weights: [Double](repeating: 1, count: n))
        // lambda_max(A^T A) by Lanczos on A^T (A v) (two streaming passes per step).
        let top = try lanczosExtremes(dimension: d, seed: options.seed &+ 3, options: options) { v in a.transposeMultiply(a.multiply(v)) }
        let lambdaMax = top.max
        let normA = lambdaMax.squareRoot()
        let factor: SymmetricFactor
        do {
            factor = try SymmetricFactor(context: try CholmodContext(), dimension: d, columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices)
        } catch {
            throw DiagnosticsError("CHOLMOD analysis of A^T A: \(error)", kind: .cholmod(during: "analysis of A^T A", error))
        }
        var sigmaMin = 0.0
        var method = "Lanczos on (A^T A)^{-1} through its CHOLMOD factor"
        var singular = false
        do { try factor.factorize(values: k) } catch {
            guard case .notPositiveDefinite = error else {
                throw DiagnosticsError("CHOLMOD factorisation of A^T A: \(error)", kind: .cholmod(during: "factorisation of A^T A", error))
            }
            singular = true
        }
        if !singular {
            // Shift-invert: the largest eigenvalue of (A^T A)^{-1} is 1 / sigma_min^2.
            var solveError: CholmodError? = nil
            let inverse = try lanczosExtremes(dimension: d, seed: options.seed &+ 5, options: options) { v in
                do { return try factor.solve(v) } catch {
                    solveError = (error as? CholmodError) ?? .other(status: -1, "\(error)")
                    return [Double](repeating: 0, count: v.count)
                }
            }
            if let error = solveError { throw DiagnosticsError("CHOLMOD solve with A^T A: \(error)", kind: .cholmod(during: "solve with A^T A", error)) }
            let lambdaMin = 1 / inverse.max
            // Round-off can make a singular A^T A factor with a tiny pivot: treat lambda_min
            // below the arithmetic's resolution of lambda_max as zero.
            if !(inverse.max.isFinite && inverse.max > 0) || lambdaMin <= 1e-14 * lambdaMax { singular = true } else { sigmaMin = lambdaMin.squareRoot() }
        }
        if singular { method = "A^T A numerically singular (CHOLMOD): sigma_min(A) = 0" }
        // Least-squares fit of 1 on A, as the solver's end-of-run warning computes it.
        let residual = OnesInRange.residual(a) ?? 1.0
        return (normA, sigmaMin, method, residual)
    }
}

/// The smallest and largest eigenvalues of the symmetric d x d operator `multiply` by Lanczos
/// with full reorthogonalisation (twice, classical Gram-Schmidt) from a seeded start, at most
/// `min(d, options.lanczosSteps)` steps, checked every 10. `residual` is the larger residual
/// bound `beta_k |y_k|` of the two extreme Ritz values (rigorous: an eigenvalue lies within it
/// of each); `estimate` the larger error estimate `min(r, r^2 / gap)` with the gap to the next
/// Ritz value (Ritz values converge as r^2). Stops when the estimate is below
/// `options.lanczosTolerance` times the spectral radius, or the Krylov space is invariant.
/// Memory: the basis, steps x d doubles.
func lanczosExtremes(dimension d: Int, seed: UInt64, options: DiagnosticsOptions, _ multiply: ([Double]) -> [Double]) throws(DiagnosticsError) -> (min: Double, max: Double, residual: Double, estimate: Double, steps: Int) {
    var rng = SeededGenerator(seed: seed)
    var q = (0..<d).map { _ in rng.gaussian() }
    let qn = norm2(q)
    q = q.map { $0 / qn }
    var basis: [[Double]] = [q]
    var alphas: [Double] = [], betas: [Double] = []
    let maxSteps = Swift.min(d, Swift.max(2, options.lanczosSteps))
    var result = (min: 0.0, max: 0.0, residual: Double.infinity, estimate: Double.infinity, steps: 0)
    for j in 0..<maxSteps {
        var w = multiply(basis[j])
        let alpha = dot(basis[j], w)
        alphas.append(alpha)
        for _ in 0..<2 {
            for v in basis {
                let c = dot(v, w)
                for i in 0..<d { w[i] -= c * v[i] }
            }
        }
        let beta = norm2(w)
        let k = alphas.count
        let checkNow = k == maxSteps || k % 10 == 0 || !(beta > 0)
        if checkNow {
            var t = [Double](repeating: 0, count: k * k)
            for i in 0..<k {
                t[i * k + i] = alphas[i]
                if i + 1 < k { t[i * k + i + 1] = betas[i]; t[(i + 1) * k + i] = betas[i] }
            }
            let eig: (values: [Double], vectors: [Double])
            do { eig = try DenseSymmetricEigen.eigensystem(t, dimension: k) } catch {
                throw DiagnosticsError("Lanczos tridiagonal eigenproblem: \(error)", kind: .eigen(of: "the Lanczos tridiagonal matrix", error))
            }
            let lo = eig.values[0], hi = eig.values[k - 1]
            let rLo = beta * Swift.abs(eig.vectors[0 * k + k - 1]), rHi = beta * Swift.abs(eig.vectors[(k - 1) * k + k - 1])
            // Error estimates min(r, r^2 / gap), the gap to the neighbouring Ritz value
            // (Kato-Temple with the Ritz gap standing in for the spectral one).
            let gapLo = k > 1 ? eig.values[1] - lo : 0, gapHi = k > 1 ? hi - eig.values[k - 2] : 0
            let eLo = gapLo > 0 ? Swift.min(rLo, rLo * rLo / gapLo) : rLo
            let eHi = gapHi > 0 ? Swift.min(rHi, rHi * rHi / gapHi) : rHi
            let scale = Swift.max(Swift.abs(lo), Swift.abs(hi), Double.leastNormalMagnitude)
            result = (lo, hi, Swift.max(rLo, rHi), Swift.max(eLo, eHi), k)
            if !(beta > 1e-14 * scale) { result.residual = 0; result.estimate = 0; break }
            if Swift.max(eLo, eHi) <= options.lanczosTolerance * scale { break }
        }
        guard beta > 0, j + 1 < maxSteps else { break }
        betas.append(beta)
        basis.append(w.map { $0 / beta })
    }
    return result
}

/// Largest |eigenvalue| of the symmetric operator `multiply` by power iteration from a seeded
/// start: the estimate is ||M v|| for the current unit v, which never exceeds the true value.
func spectralNorm(dimension: Int, seed: UInt64, options: DiagnosticsOptions, _ multiply: ([Double]) -> [Double]) -> Double {
    var rng = SeededGenerator(seed: seed)
    var v = (0..<dimension).map { _ in rng.gaussian() }
    var vn = norm2(v)
    guard vn > 0 else { return 0 }
    v = v.map { $0 / vn }
    var estimate = 0.0
    for _ in 0..<options.maxIterations {
        let y = multiply(v)
        vn = norm2(y)
        guard vn > 0, vn.isFinite else { return vn.isFinite ? 0 : .infinity }
        let done = Swift.abs(vn - estimate) <= options.iterationTolerance * vn
        estimate = vn
        v = y.map { $0 / vn }
        if done { break }
    }
    return estimate
}

