import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// A small problem with moderate |Ax| and nonzero residual, for derivative checks.
func smallProblem(_ kind: FunctionKind, n: Int = 60, d: Int = 8, weight: Double = 0.7, seed: UInt64 = 1) throws -> (Problem, [Double]) {
    let a = randomCSR(rows: n, columns: d, density: 0.4, seed: seed)
    var rng = FixtureRandom(seed: seed + 10)
    let b = (0..<n).map { _ in rng.uniform(0.1, 1.0) / Double(n) }
    let w = (0..<n).map { _ in weight * rng.uniform(0.5, 1.5) }
    let x = (0..<d).map { _ in rng.uniform(-0.5, 0.5) }
    return (try Problem(matrix: a, target: b, weights: w, function: kind), x)
}

/// L(x) written directly from its definition with dense A (independent of Objective).
func denseLoss(_ p: Problem, _ x: [Double]) -> Double {
    let z = Dense.multiply(p.matrix.denseRowMajor(), rows: p.rowCount, columns: p.columnCount, x)
    let u = z.map { p.function.value($0) }
    let alpha = u.reduce(0, +)
    var l = 0.0
    for i in 0..<z.count {
        let c = u[i] - alpha * p.target[i]
        l += 0.5 * c * c + 0.5 * p.weights[i] * p.weights[i] * z[i] * z[i]
    }
    return l
}

/// The full Hessian, dense (d x d, row-major), from the formulas of docs/math.md written
/// with dense A: `A^T diag(delta) A + ||b||^2 p p^T - p q^T - q p^T`.
func denseHessian(_ p: Problem, at x: [Double]) -> [Double] {
    let obj = Objective(problem: p)
    let e = obj.evaluate(x)
    let pieces = obj.gradientPieces(e)
    let d = p.columnCount
    var h = Dense.weightedGram(p.matrix.denseRowMajor(), rows: p.rowCount, columns: d, weights: obj.hessianWeights(e))
    for i in 0..<d { for j in 0..<d {
        h[i * d + j] += p.targetSquaredNorm * pieces.p[i] * pieces.p[j] - pieces.p[i] * pieces.q[j] - pieces.q[i] * pieces.p[j]
    } }
    return h
}

@Suite("Objective: loss, gradient, Hessian against finite differences")
struct ObjectiveTests {
    @Test(arguments: FunctionKind.allCases)
    func lossMatchesDefinition(kind: FunctionKind) throws {
        let (p, x) = try smallProblem(kind)
        let e = Objective(problem: p).evaluate(x)
        // Same sums in another order: 1e-13 relative.
        #expect(abs(e.loss - denseLoss(p, x)) <= 1e-13 * abs(denseLoss(p, x)))
    }

    @Test(arguments: FunctionKind.allCases)
    func gradientMatchesCentralDifferences(kind: FunctionKind) throws {
        let (p, x) = try smallProblem(kind)
        let obj = Objective(problem: p)
        let g = obj.gradient(obj.evaluate(x))
        let h = 1e-6
        var fd = [Double](repeating: 0, count: x.count)
        for j in 0..<x.count {
            var xp = x, xm = x
            xp[j] += h; xm[j] -= h
            fd[j] = (obj.evaluate(xp).loss - obj.evaluate(xm).loss) / (2 * h)
        }
        // Central differences: truncation O(h^2 |L'''|) ~ 1e-12 and cancellation
        // eps |L| / h ~ 1e-10 here; 1e-7 relative to ||g||_inf is safely above both and
        // far below any formula error (a wrong term changes g by O(1) relative).
        #expect(relativeMaxDifference(g, fd) < 1e-7)
    }

    @Test(arguments: FunctionKind.allCases)
    func hessianVectorProductMatchesDifferencesOfGradient(kind: FunctionKind) throws {
        let (p, x) = try smallProblem(kind)
        let obj = Objective(problem: p)
        let e = obj.evaluate(x)
        let pieces = obj.gradientPieces(e)
        var rng = FixtureRandom(seed: 77)
        let s = (0..<x.count).map { _ in rng.uniform(-1, 1) }
        let hs = obj.hessianVectorProduct(e, pieces: pieces, delta: obj.hessianWeights(e), s)
        let h = 1e-6
        let gp = obj.gradient(obj.evaluate(zip(x, s).map { $0 + h * $1 }))
        let gm = obj.gradient(obj.evaluate(zip(x, s).map { $0 - h * $1 }))
        let fd = zip(gp, gm).map { ($0 - $1) / (2 * h) }
        // Same reasoning as for the gradient, one derivative higher: 1e-6 relative.
        #expect(relativeMaxDifference(hs, fd) < 1e-6)
    }

    @Test(arguments: FunctionKind.allCases)
    func assembledHessianMatchesHessianVectorProducts(kind: FunctionKind) throws {
        // The Newton system's matrix K + U C U^T (dense) equals H column by column.
        let (p, x) = try smallProblem(kind)
        let obj = Objective(problem: p)
        let e = obj.evaluate(x)
        let pieces = obj.gradientPieces(e)
        let delta = obj.hessianWeights(e)
        let d = p.columnCount
        let k = Dense.weightedGram(p.matrix.denseRowMajor(), rows: p.rowCount, columns: d, weights: delta)
        let bb = p.targetSquaredNorm
        for j in 0..<d {
            var ej = [Double](repeating: 0, count: d); ej[j] = 1
            let hv = obj.hessianVectorProduct(e, pieces: pieces, delta: delta, ej)
            for i in 0..<d {
                let h = k[i * d + j] + bb * pieces.p[i] * pieces.p[j] - pieces.p[i] * pieces.q[j] - pieces.q[i] * pieces.p[j]
                #expect(abs(h - hv[i]) <= 1e-12 * max(1, abs(h)))
            }
        }
    }

    @Test func gaussNewtonWeightsAreNonNegativeAndHessianWeightsCanBeNegative() throws {
        let (p, x) = try smallProblem(.cosh, weight: 0)
        let obj = Objective(problem: p)
        let e = obj.evaluate(x.map { $0 * 4 })
        #expect(obj.gaussNewtonWeights(e).allSatisfy { $0 >= 0 })
        #expect(obj.hessianWeights(e).contains { $0 < 0 })
    }

    @Test func overflowIsReportedNotHidden() throws {
        let (p, _) = try smallProblem(.exp, d: 8)
        let e = Objective(problem: p).evaluate([Double](repeating: 1000, count: 8))
        #expect(!e.isFinite)
        #expect(e.maxAbsZ > 709)
    }
}

@Suite("Problem validation")
struct ProblemTests {
    @Test func rejectsMismatchedAndBadData() {
        let a = randomCSR(rows: 5, columns: 2, density: 0.5, seed: 1)
        #expect(throws: ProblemError.self) { try Problem(matrix: a, target: [1, 2, 3], weight: 1, function: .exp) }
        #expect(throws: ProblemError.self) { try Problem(matrix: a, target: [Double](repeating: 0.2, count: 5), weights: [1, 1, 1, 1, -1], function: .exp) }
        #expect(throws: ProblemError.self) { try Problem(matrix: a, target: [0.2, 0.2, .nan, 0.2, 0.2], weight: 1, function: .exp) }
        #expect(throws: ProblemError.self) { try Problem(matrix: a, target: [Double](repeating: 0.2, count: 5), weight: .infinity, function: .exp) }
    }
}

@Suite("One-pass Hessian-vector products against the dense Hessian")
struct FusedHessianProductTests {
    /// H v for three vectors at once (one pass) against the dense Hessian of docs/math.md times
    /// v, and A v against dense A v. Tolerance 1e-12 relative to the largest entry: the same
    /// sums in another order (a few hundred terms of O(1)); a wrong sign or a missing rank-2
    /// term changes H v by O(1) relative.
    @Test(arguments: FunctionKind.allCases)
    func matchesDenseHessian(kind: FunctionKind) throws {
        let (p, x) = try smallProblem(kind, n: 80, d: 9)
        let obj = Objective(problem: p)
        let e = obj.evaluate(x)
        let pieces = obj.gradientPieces(e)
        let h = denseHessian(p, at: x)
        let d = p.columnCount
        var rng = FixtureRandom(seed: 91)
        let vs = (0..<3).map { _ in (0..<d).map { _ in rng.uniform(-1, 1) } }
        let out = obj.fusedHessianProducts(pieces: pieces, delta: obj.hessianWeights(e), vs)
        let dense = p.matrix.denseRowMajor()
        for m in 0..<3 {
            let reference = (0..<d).map { i in (0..<d).reduce(0.0) { $0 + h[i * d + $1] * vs[m][$1] } }
            #expect(relativeMaxDifference(out.products[m], reference) < 1e-12)
            #expect(relativeMaxDifference(out.forward[m], Dense.multiply(dense, rows: p.rowCount, columns: d, vs[m])) < 1e-12)
        }
    }

    /// The fused forms of the hot path give the bits of the forms they replace: the trial point
    /// `evaluate(from:step:along:)` those of `evaluate(z: z + t A s)`, and `gradientPieces`
    /// (weights formed row by row inside the pass) those of `A^T [r, v, v o b]` with the
    /// weights formed first; also after the pool has handed out recycled vectors.
    @Test(arguments: FunctionKind.allCases)
    func fusedFormsGiveTheSameBits(kind: FunctionKind) throws {
        let (p, x) = try smallProblem(kind, n: 300, d: 9)
        let obj = Objective(problem: p)
        let e = obj.evaluate(x)
        obj.recycle(obj.evaluate(x.map { $0 * 0.5 }))  // stale vectors in the pool
        var rng = FixtureRandom(seed: 17)
        let s = (0..<p.columnCount).map { _ in rng.uniform(-0.3, 0.3) }
        let As = p.matrix.multiply(s)
        for t in [1.0, 0.5, 0.125] {
            let fused = obj.evaluate(from: e, step: t, along: As)
            let plain = obj.evaluate(z: zip(e.z, As).map { $0 + t * $1 })
            #expect(fused.z == plain.z && fused.u == plain.u && fused.v == plain.v && fused.c == plain.c)
            #expect(fused.loss == plain.loss && fused.alpha == plain.alpha && fused.bDotC == plain.bDotC)
            obj.recycle(fused)
        }
        let pieces = obj.gradientPieces(e)
        let formed = p.matrix.transposeMultiply([obj.gradientWeights(e), e.v, zip(e.v, p.target).map { $0 * $1 }])
        #expect(pieces.gradient == formed[0] && pieces.p == formed[1] && pieces.q == formed[2])
    }
}
