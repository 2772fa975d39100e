// Rank-deficient A (n < d, duplicate or zero columns): the minimum-norm Newton step in
// range(A^T) (docs/math.md, "Rank-deficient A"; docs/solver.md, "Rank-deficient A").
//
// L depends on x only through z = A x, so when A has a null space the Hessian
// H = A^T G A (G the Hessian of L in z) is singular and x is determined only up to null(A).
// With V an orthonormal basis of range(A^T) (the eigenvectors of A^T A whose eigenvalues are
// above the round-off level), x = V y is a full-rank problem in y whose Newton step
// V^T H V dy = -V^T g is Newton's step in z (A V is injective), so it converges quadratically,
// and x stays in range(A^T): the minimum-norm minimiser. The step also removes the component of
// x outside range(A^T) (A x is unchanged by it), so a start outside range(A^T) is mapped in.
//
// Detection: structurally when n < d (before the first iteration), else on the first CHOLMOD
// pivot failure of the Gauss-Newton matrix A^T diag(v o v + w o w) A (then the eigenvalues of
// A^T A decide). A full-rank run whose Gauss-Newton matrix always factors never computes
// anything here, so its path is the same, bit for bit, as without this file.

import DenseLinearAlgebra
import SparseCore

/// An orthonormal basis V (d x k) of range(A^T), from the eigensystem of A^T A.
final class RangeBasis {
    /// d above this needs too much dense work (a d x d eigensystem, about 9 d^3 flops: d = 2000
    /// takes seconds) for a one-off check; larger rank-deficient problems keep the damped path.
    static let maxDimension = 2000
    /// Eigenvalues of A^T A at or below `max(n, d) * eps * lambda_max` are round-off of a
    /// zero: the Gram matrix is computed with an error of about that size (n products summed per
    /// entry, relative eps each), so no smaller eigenvalue can be told from 0. In singular
    /// values of A this is sigma <= sqrt(max(n, d) eps) sigma_max (4.6e-7 sigma_max at d = 384).
    static func threshold(rows n: Int, columns d: Int, largest: Double) -> Double {
        Double(max(n, d)) * Double.ulpOfOne * largest
    }

    let dimension: Int
    /// The numerical rank k.
    let rank: Int
    /// V column-major: column j (0..<k) is `vectors[j * d ..< (j + 1) * d]`.
    let vectors: [Double]
    /// The largest and the smallest kept eigenvalue of A^T A, and the threshold.
    let largestEigenvalue: Double, smallestKeptEigenvalue: Double, cutoff: Double

    /// The basis of `a`'s row space (one dense Gram pass over A and a dense eigensystem).
    /// - Throws: `SolverError` when LAPACK fails (a non-finite A^T A: overflowing entries).
    init(matrix a: CSRMatrix) throws(SolverError) {
        let d = a.columnCount
        dimension = d
        let packed = DenseGram.packedUpperGram(a, weights: [Double](repeating: 1, count: a.rowCount))
        var full = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            for j in 0...k {
                let v = packed[k * (k + 1) / 2 + j]
                full[k * d + j] = v; full[j * d + k] = v
            }
        }
        let eig: (values: [Double], vectors: [Double])
        do { eig = try DenseSymmetricEigen.eigensystem(full, dimension: d) } catch {
            throw .invalidProblem("the rank check of A (eigenvalues of A^T A, d = \(d)) failed: \(error)")
        }
        let largest = max(eig.values.last ?? 0, 0)
        let cut = Self.threshold(rows: a.globalRowCount, columns: d, largest: largest)
        cutoff = cut
        let kept = eig.values.indices.filter { eig.values[$0] > cut }
        rank = kept.count
        largestEigenvalue = largest
        smallestKeptEigenvalue = kept.first.map { eig.values[$0] } ?? 0
        // Largest eigenvalue first (a fixed order; the solution does not depend on it).
        var v = [Double](repeating: 0, count: d * rank)
        for (j, k) in kept.reversed().enumerated() {
            for i in 0..<d { v[j * d + i] = eig.vectors[k * d + i] }
        }
        vectors = v
    }

    /// V^T x (k).
    func reduce(_ x: [Double]) -> [Double] {
        DenseLAPACK.multiply(vectors, x, m: rank, n: 1, k: dimension, transposeA: true)
    }

    /// V y (d).
    func expand(_ y: [Double]) -> [Double] {
        DenseLAPACK.multiply(vectors, y, m: dimension, n: 1, k: rank)
    }

    /// V^T K V (k x k, column-major) for K given as the values of an assembled upper-triangle
    /// pattern (`NormalMatrixPattern`).
    func reduce(matrix values: [Double], pattern: NormalMatrixPattern) -> [Double] {
        let d = dimension
        var full = [Double](repeating: 0, count: d * d)
        for k in 0..<d {
            for e in Int(pattern.columnOffsets[k])..<Int(pattern.columnOffsets[k + 1]) {
                let j = Int(pattern.rowIndices[e])
                full[k * d + j] = values[e]; full[j * d + k] = values[e]
            }
        }
        let kv = DenseLAPACK.multiply(full, vectors, m: d, n: rank, k: d)
        return DenseLAPACK.multiply(vectors, kv, m: rank, n: rank, k: d, transposeA: true)
    }
}

/// What the solver found out about the rank of A (reported as `numerical_rank` and
/// `rank_deficient`).
struct RankFinding {
    /// The numerical rank (nil when A is known to be rank-deficient but d was too large to
    /// compute it).
    var numericalRank: Int?
    var deficient: Bool
    /// The basis when the minimum-norm step uses it.
    var basis: RangeBasis?

    /// The rank check of `a`: the basis when d allows it.
    static func check(_ a: CSRMatrix) throws(SolverError) -> RankFinding {
        guard a.columnCount <= RangeBasis.maxDimension else {
            return RankFinding(numericalRank: nil, deficient: a.globalRowCount < a.columnCount, basis: nil)
        }
        let basis = try RangeBasis(matrix: a)
        let deficient = basis.rank < a.columnCount
        return RankFinding(numericalRank: basis.rank, deficient: deficient, basis: deficient ? basis : nil)
    }

    /// The words of the warning that says what rank deficiency means for the answer.
    func words(rows n: Int, columns d: Int, how: String) -> String {
        guard let k = numericalRank, let b = basis else {
            return "A is rank-deficient (\(how); n = \(n) rows < d = \(d) columns): x is determined only up to null(A), z = A x is unique. d is above \(RangeBasis.maxDimension), so the numerical rank was not computed and the minimum-norm step is not used: x is one minimiser, not the minimum-norm one."
        }
        return "A is rank-deficient (\(how)): numerical rank \(k) of d = \(d) columns (n = \(n) rows; eigenvalues of A^T A at or below \(fmt(b.cutoff)) = max(n, d) eps lambda_max count as 0, the smallest kept is \(fmt(b.smallestKeptEigenvalue)) of lambda_max \(fmt(b.largestEigenvalue))). x is determined only up to null(A) (dimension \(d - k)); z = A x is unique. The steps are Newton steps in range(A^T) (models minimum_norm*), and x is the minimum-norm minimiser (x in range(A^T)); the gradient g = A^T r lies in range(A^T), so the stopping rule's ||g||_2 is also the norm of the reduced gradient V^T g."
    }
}

/// The minimum-norm Newton step: the exact Hessian, (for cosh) the exact Hessian with absolute
/// eigenvalues, then Gauss-Newton, then Gauss-Newton plus mu I, each restricted to range(A^T)
/// (V^T K V plus the reduced rank-2 part, factored by LAPACK's dense Cholesky, k x k, or its
/// eigensystem), and the step s = V dy - (x - V V^T x).
///
/// Why saddle-free for cosh (docs/solver.md, "cosh on rank-deficient A"): cosh's L has saddle
/// points; where the exact reduced Hessian is indefinite, the Gauss-Newton step ignores the
/// negative curvature, and on the short texts and on generated 80 x 200 problems it crept
/// towards a saddle (100 iterations, the exact Hessian's smallest eigenvalue -3.1 and -0.026
/// at the end). The |eigenvalue| model descends along negative curvature. exp and sinh keep
/// Gauss-Newton, which measured best for exp (the table "Why this form").
final class MinimumNormNewtonStep: StepSource {
    let models: [StepModel]
    let displayNames: [String]
    let basis: RangeBasis
    let exact: NewtonMatrix, gaussNewton: NewtonMatrix
    let context: SolveContext
    let system: HessianSystem

    init(basis: RangeBasis, exact: NewtonMatrix, gaussNewton: NewtonMatrix, context: SolveContext, system: HessianSystem) {
        self.basis = basis; self.exact = exact; self.gaussNewton = gaussNewton; self.context = context; self.system = system
        let cosh = context.problem.function == .cosh
        models = cosh ? [.minimumNorm, .minimumNormSaddleFree, .minimumNormGaussNewton, .minimumNormDamped]
                      : [.minimumNorm, .minimumNormGaussNewton, .minimumNormDamped]
        displayNames = cosh ? ["minimum-norm exact", "minimum-norm saddle-free", "minimum-norm Gauss-Newton", "minimum-norm damped"]
                            : ["minimum-norm exact", "minimum-norm Gauss-Newton", "minimum-norm damped"]
    }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        guard attempt < models.count else { return nil }
        let model = models[attempt]
        let matrix = model == .minimumNorm || model == .minimumNormSaddleFree ? exact : gaussNewton
        let k: [Double]
        switch try matrix.matrix(at: state, iteration: iteration) {
        case .stop(let stop): return .stop(stop)
        case .matrix(let m): k = m.values
        }
        let r = basis.rank
        var reduced = basis.reduce(matrix: k, pattern: system.pattern)
        // The rank-2 part U C U^T, U = [p q], reduced: V^T U C U^T V.
        let py = basis.reduce(state.pieces.p), qy = basis.reduce(state.pieces.q)
        let bb = context.targetSquaredNorm
        for j in 0..<r {
            for i in 0..<r { reduced[j * r + i] += bb * py[i] * py[j] - py[i] * qy[j] - qy[i] * py[j] }
        }
        let gy = basis.reduce(state.gradient)
        let rhs = gy.map { -$0 }
        var dy: [Double]? = nil
        var mu = 0.0
        do {
            if model == .minimumNormSaddleFree {
                // V^T H V = Q diag(lambda) Q^T; dy = -Q diag(1 / max(|lambda|, 1e-8 max|lambda|)) Q^T gy.
                let eig = try DenseSymmetricEigen.eigensystem(reduced, dimension: r)
                let top = eig.values.reduce(0) { max($0, Swift.abs($1)) }
                let floor = max(1e-8 * top, Double.leastNormalMagnitude)
                var coefficients = [Double](repeating: 0, count: r)
                for j in 0..<r {
                    var qg = 0.0
                    for i in 0..<r { qg += eig.vectors[j * r + i] * gy[i] }
                    coefficients[j] = -qg / max(Swift.abs(eig.values[j]), floor)
                }
                var step = [Double](repeating: 0, count: r)
                for j in 0..<r { for i in 0..<r { step[i] += eig.vectors[j * r + i] * coefficients[j] } }
                dy = step
            } else if model != .minimumNormDamped {
                let sol = try DenseLAPACK.choleskySolve(reduced, dimension: r, rhs)
                if let pivot = sol.failedPivot { return .rejected(ModelRejection(model, .notPositiveDefiniteInRange(pivot: pivot))) }
                dy = sol.solution
            } else {
                var mean = 0.0
                for i in 0..<r { mean += Swift.abs(reduced[i * r + i]) }
                mean = max(mean / Double(max(r, 1)), Double.leastNormalMagnitude)
                mu = DampingSchedule.initialRelative * mean
                var tries = 0
                while dy == nil && tries < DampingSchedule.maxTries && mu.isFinite {
                    tries += 1
                    var shifted = reduced
                    for i in 0..<r { shifted[i * r + i] += mu }
                    if let s = try DenseLAPACK.choleskySolve(shifted, dimension: r, rhs).solution, dot(gy, s) < 0 { dy = s } else { mu *= DampingSchedule.factor }
                }
                if dy == nil { return .rejected(ModelRejection(model, .noPositiveDefiniteShift(upTo: mu))) }
            }
        } catch {
            throw .wrapping(error, during: "\(model.rawValue) step")
        }
        guard let dy else { return nil }
        // s = V dy - (x - V V^T x): the Newton step in range(A^T), and x's component outside it removed.
        let inRange = basis.expand(basis.reduce(state.x))
        let vdy = basis.expand(dy)
        var s = vdy
        for i in s.indices { s[i] -= state.x[i] - inRange[i] }
        // The slope is <V^T g, dy>: g = A^T r lies in range(A^T), so <g, x - V V^T x> is 0 in exact
        // arithmetic, but computed it is round-off (g's noise outside range(A^T) times x's
        // round-off part outside it, ~1e-22 on hidden-harbour-l2h4), which at the round-off
        // floor outweighed the true slope (~1e-25) and made every model "not a descent direction".
        guard s.allSatisfy(\.isFinite) else { return .rejected(ModelRejection(model, .nonFiniteStep)) }
        let slope = dot(gy, dy)
        guard slope < 0 else { return .rejected(ModelRejection(model, .notDescent)) }
        return .step(ProposedStep(model: model, direction: s, slope: slope, damping: mu, refinements: nil, refinementResidual: nil))
    }
}

/// The exact strategy's step source with rank handling: exact, Gauss-Newton, damped as before
/// while A is of full rank; the minimum-norm step once A is found rank-deficient (at the start
/// when n < d, else at the first CHOLMOD pivot failure of Gauss-Newton, which triggers the rank
/// check once).
final class RankAwareSource: StepSource {
    let fullRank: FallbackChain
    let exact: NewtonMatrix, gaussNewton: NewtonMatrix
    let context: SolveContext
    let system: HessianSystem
    private var minimumNorm: MinimumNormNewtonStep?
    private var checked = false
    private var inRange = false, rangeAttempt = 0

    init(fullRank: FallbackChain, exact: NewtonMatrix, gaussNewton: NewtonMatrix, context: SolveContext, system: HessianSystem) {
        self.fullRank = fullRank; self.exact = exact; self.gaussNewton = gaussNewton; self.context = context; self.system = system
    }

    var displayNames: [String] { minimumNorm?.displayNames ?? fullRank.displayNames }

    /// The check when n < d (before the first iteration): A is rank-deficient whatever its entries.
    func checkAtStart() throws(SolverError) {
        let a = context.matrix
        guard a.globalRowCount < a.columnCount else { return }
        try runCheck("n < d")
    }

    private func runCheck(_ how: String) throws(SolverError) {
        checked = true
        let a = context.matrix
        let finding = try RankFinding.check(a)
        if finding.numericalRank != nil { context.passes.rankCheck += 1 }
        context.rank = finding
        if finding.deficient {
            context.warnings.append(finding.words(rows: a.globalRowCount, columns: a.columnCount, how: how))
            if let basis = finding.basis {
                minimumNorm = MinimumNormNewtonStep(basis: basis, exact: exact, gaussNewton: gaussNewton, context: context, system: system)
            }
        }
    }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        if attempt == 0 { inRange = minimumNorm != nil; rangeAttempt = 0 }
        if inRange, let m = minimumNorm {
            rangeAttempt += 1
            return try m.candidate(rangeAttempt - 1, at: state, iteration: iteration)
        }
        guard let c = try fullRank.candidate(attempt, at: state, iteration: iteration) else { return nil }
        guard !checked else { return c }
        switch c {
        case .rejected(let why):
            if why.model == .gaussNewton, case .notPositiveDefinite(let pivot) = why.reason {
                try runCheck("the Gauss-Newton matrix A^T diag(v o v + w o w) A failed CHOLMOD at pivot \(pivot) at iteration \(iteration)")
                if minimumNorm != nil { inRange = true }
            }
        case .step(let proposal):
            // Round-off can let CHOLMOD factor an exactly singular A^T D A (a duplicated column):
            // a condition estimate at the round-off level triggers the same check.
            let a = context.matrix
            if [.exact, .gaussNewton].contains(proposal.model), let rcond = system.factor.reciprocalConditionEstimate,
               rcond <= Double(max(a.globalRowCount, a.columnCount)) * Double.ulpOfOne {
                try runCheck("the \(proposal.model.rawValue) matrix A^T D A factored with CHOLMOD condition estimate \(fmt(rcond)) at iteration \(iteration)")
                if minimumNorm != nil {
                    inRange = true
                    return .rejected(ModelRejection(proposal.model, .rankDeficient(rcond: rcond)))
                }
            }
        case .stop: break
        }
        return c
    }

    func accepted(_ step: AcceptedStep) { fullRank.accepted(step) }
}
