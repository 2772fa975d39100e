// Rank-deficient A (issue 15): n < d, a duplicated column, a zero column. hyperreg must converge
// with Newton steps in range(A^T) and return the minimum-norm minimiser. The reference is built
// independently: the problem is a full-rank problem in a known basis (z = B y, B of full
// column rank), solved by the dense eigenvalue-modified Newton of HyperRegTestSupport (its own
// derivatives, no CHOLMOD, no reduced basis), and the minimum-norm x = A^+ z* is written down in
// closed form (duplicate and zero column) or computed as A^T (A A^T)^{-1} z* by Gaussian
// elimination (n < d, A of full row rank).
//
// Tolerances: the dense reference sits at the round-off floor (relative gradient 1e-14), and
// hyperreg's last step is a Newton step in its quadratic regime, so z = A x agrees to 1e-10
// relative (the figure; measured: 1.3e-15 and 2.4e-15 for n < d, 7 iterations each), and x
// to 1e-8 relative (the acceptance: the condition number of A A^T or of B^T B, at most
// about 1e2 here, amplifies the z error into x).

import Foundation
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite struct RankDeficientTests {
    /// A random n x d dense-ish matrix, b a positive target summing to 1, w uniform.
    static func problem(rows n: Int, columns d: Int, seed: UInt64, weight: Double) throws -> (CSRMatrix, [Double], [Double]) {
        let a = randomCSR(rows: n, columns: d, density: 0.6, seed: seed)
        var rng = FixtureRandom(seed: seed + 7)
        let raw = (0..<n).map { _ in rng.uniform(0.1, 1.0) }
        let total = raw.reduce(0, +)
        return (a, raw.map { $0 / total }, [Double](repeating: weight, count: n))
    }

    /// The dense reference minimiser of the full-rank problem with matrix `basis`: y*.
    static func reference(_ basis: CSRMatrix, _ b: [Double], _ w: [Double]) -> [Double] {
        let dense = DenseProblem(matrix: basis, target: b, weights: w, function: .exp)
        let r = DenseNewton.solve(dense, from: [Double](repeating: 0, count: basis.columnCount))
        #expect(r.stop == "tolerance" || r.stop == "no decrease", "dense reference stopped: \(r.stop)")
        // Its line search stops when L no longer changes in Double (relative gradient ~1e-8
        // here); full Newton steps, kept while ||g|| shrinks, take it to the round-off floor.
        var x = r.x, current = dense.derivatives(x, hessian: true)
        for _ in 0..<5 {
            let s = gaussianSolve(current.hessian, current.gradient.map { -$0 }, basis.columnCount)
            let trial = zip(x, s).map { $0 + $1 }
            let next = dense.derivatives(trial, hessian: true)
            guard DenseNewton.norm(next.gradient) < DenseNewton.norm(current.gradient) else { break }
            x = trial; current = next
        }
        #expect(DenseNewton.norm(current.gradient) <= 1e-12 * DenseNewton.norm(dense.gradient([Double](repeating: 0, count: basis.columnCount))))
        return x
    }

    static func relative(_ a: [Double], _ b: [Double]) -> Double {
        DenseNewton.norm(zip(a, b).map { $0 - $1 }) / DenseNewton.norm(b)
    }

    /// Solves from the default start with default options and checks the common claims.
    static func solve(_ a: CSRMatrix, _ b: [Double], _ w: [Double], rank: Int) throws -> SolverResult {
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .converged, "\(r.message)")
        #expect(r.iterations <= 12, "\(r.iterations) iterations")
        #expect(r.rankDeficient)
        #expect(r.numericalRank == rank)
        #expect(r.trace.dropFirst().allSatisfy { [.minimumNorm, .minimumNormSaddleFree, .minimumNormGaussNewton, .minimumNormDamped].contains($0.model) })
        #expect(r.warnings.contains { $0.contains("rank-deficient") && $0.contains("minimum-norm") })
        return r
    }

    @Test(arguments: [(30, 50, UInt64(1)), (12, 40, UInt64(2))])
    func fewerRowsThanColumns(n: Int, d: Int, seed: UInt64) throws {
        let (a, b, w) = try Self.problem(rows: n, columns: d, seed: seed, weight: 0.3)
        // A has full row rank, so z ranges over all of R^n: the reference solves in z (B = I).
        let identity = CSRMatrix(denseRowMajor: (0..<n * n).map { $0 % (n + 1) == 0 ? 1 : 0 }, rowCount: n, columnCount: n)
        let zStar = Self.reference(identity, b, w)
        // x* = A^T (A A^T)^{-1} z*, by Gaussian elimination with partial pivoting.
        let dense = a.denseRowMajor()
        var m = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<d { m[i * n + j] += dense[i * d + k] * dense[j * d + k] } } }
        let t = Self.gaussianSolve(m, zStar, n)
        let xStar = (0..<d).map { k in (0..<n).reduce(0.0) { $0 + dense[$1 * d + k] * t[$1] } }
        let r = try Self.solve(a, b, w, rank: n)
        let z = Dense.multiply(dense, rows: n, columns: d, r.x)
        #expect(Self.relative(z, zStar) <= 1e-10, "z: \(Self.relative(z, zStar))")
        #expect(Self.relative(r.x, xStar) <= 1e-8, "x: \(Self.relative(r.x, xStar))")
    }

    /// The log-fit start for n < d (issue 15 follow-up): A x0 = log b - c 1 with c the
    /// w^2-weighted mean of log b (the c that minimises L(x0), since every c fits b exactly),
    /// x0 in range(A^T), and L(x0) below the uncentred intercept fit's. Tolerance 1e-8 on
    /// A x0 against its target, relative: the fit's ridge is 1e-10 of the mean diagonal of
    /// A^T A, which biases the solution by about that over sigma_min^2 / mean diagonal (>= 1e-2
    /// for these random matrices). x0's part outside range(A^T) only to 1e-5: the ridged A^T A
    /// has condition about lambda_max / ridge = 1e10, so CHOLMOD's solve leaves about
    /// 1e10 eps = 2e-6 (measured 2.1e-6) in null(A); the first minimum-norm step removes it.
    @Test func logFitStartIsCentredForFewerRows() throws {
        let (a, b, _) = try Self.problem(rows: 30, columns: 50, seed: 4, weight: 0)
        var rng = FixtureRandom(seed: 11)
        let w = (0..<30).map { _ in rng.uniform(0.05, 0.5) }
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        let (x0, used) = try StartPoint.compute(for: p, strategy: .automatic)
        #expect(used == .logFit)
        let logB = b.map { Foundation.log($0) }
        let w2 = w.map { $0 * $0 }
        let c = zip(w2, logB).reduce(0) { $0 + $1.0 * $1.1 } / w2.reduce(0, +)
        let target = logB.map { $0 - c }
        #expect(Self.relative(a.multiply(x0), target) <= 1e-8)
        let basis = try RangeBasis(matrix: a)
        let inRange = basis.expand(basis.reduce(x0))
        #expect(Self.relative(x0, inRange) <= 1e-5)
        // The uncentred fit (z0 = log b) has the same fit term (0) and a larger regulariser.
        let objective = Objective(problem: p)
        let plain = try LeastSquares(matrix: a, during: "test").solve(target: logB, intercept: false)
        #expect(objective.evaluate(x0).loss < objective.evaluate(plain).loss)
        #expect(objective.evaluate(x0).fitLoss <= 1e-12)
    }

    /// cosh with n < d: where the exact reduced Hessian is indefinite, the saddle-free model
    /// (absolute eigenvalues) is taken before Gauss-Newton. Before it, these generated problems
    /// (as `hyperreg generate --rows 80 --cols 200 --density 0.3 --function cosh --weight 0.1`)
    /// crept towards saddle points with Gauss-Newton steps: seeds 1 and 4 used all 100
    /// iterations (relative gradient 1.1e-6, 8.1e-6), 2 and 3 took 47 and 64; now 20-23
    /// (measured). The bound 40 leaves room for round-off in the path, not for the old behaviour;
    /// at the end the exact reduced Hessian is positive definite (a local minimiser, not a saddle).
    @Test(arguments: [UInt64(1), 4])
    func coshTakesSaddleFreeStepsInRange(seed: UInt64) throws {
        var settings = PlantedProblem.Settings(rows: 80, columns: 200, density: 0.3)
        settings.function = .cosh; settings.weight = 0.1; settings.seed = seed
        let planted = try PlantedProblem.generate(settings)
        let p = try Problem(matrix: planted.matrix, target: planted.target, weights: planted.weights, function: .cosh)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic, seed: seed).x0
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .converged, "\(r.message)")
        #expect(r.iterations <= 40, "\(r.iterations) iterations")
        #expect(r.trace.contains { $0.model == .minimumNormSaddleFree })
        #expect(r.trace.last?.model == .minimumNorm)
    }

    /// sketch, pcg and paper have no minimum-norm step: for n < d they report rank_deficient
    /// and say in words that x is not the minimum-norm minimiser and to use exact.
    @Test(arguments: [HessianStrategy.sketch, .pcg, .paper])
    func otherStrategiesSayTheyDoNotUseTheMinimumNormStep(strategy: HessianStrategy) throws {
        let (a, b, w) = try Self.problem(rows: 30, columns: 50, seed: 1, weight: 0.1)
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        var options = SolverOptions()
        options.hessian = strategy
        let r = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(r.rankDeficient)
        #expect(r.numericalRank == nil)
        #expect(r.warnings.contains { $0.contains("--hessian \(strategy.rawValue) does not use the minimum-norm Newton step") && $0.contains("not the minimum-norm one") })
        #expect(!r.trace.contains { $0.model == .minimumNorm })
    }

    @Test func duplicatedColumn() throws {
        let (base, b, w) = try Self.problem(rows: 80, columns: 5, seed: 3, weight: 0.3)
        // A = [B, B e_1]: x and x' with x_1 + x_6 = x'_1 + x'_6 give the same z; the minimum-norm
        // one splits y_1 evenly.
        let dense = base.denseRowMajor()
        var wide: [Double] = []
        for i in 0..<80 { wide += dense[i * 5 ..< i * 5 + 5] + [dense[i * 5]] }
        let a = CSRMatrix(denseRowMajor: wide, rowCount: 80, columnCount: 6)
        let y = Self.reference(base, b, w)
        let xStar = [y[0] / 2] + y[1...] + [y[0] / 2]
        let r = try Self.solve(a, b, w, rank: 5)
        #expect(Self.relative(Dense.multiply(wide, rows: 80, columns: 6, r.x), Dense.multiply(dense, rows: 80, columns: 5, y)) <= 1e-10)
        #expect(Self.relative(r.x, xStar) <= 1e-8, "x: \(Self.relative(r.x, xStar))")
    }

    @Test func zeroColumn() throws {
        let (base, b, w) = try Self.problem(rows: 80, columns: 5, seed: 4, weight: 0.3)
        let dense = base.denseRowMajor()
        var wide: [Double] = []
        for i in 0..<80 { wide += dense[i * 5 ..< i * 5 + 5] + [0] }
        let a = CSRMatrix(denseRowMajor: wide, rowCount: 80, columnCount: 6)
        let y = Self.reference(base, b, w)
        // A start with a nonzero entry on the zero column: the minimum-norm x has 0 there.
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0.1, count: 6))
        #expect(r.termination == .converged, "\(r.message)")
        #expect(r.iterations <= 12)
        #expect(r.rankDeficient && r.numericalRank == 5)
        #expect(Self.relative(Dense.multiply(wide, rows: 80, columns: 6, r.x), Dense.multiply(dense, rows: 80, columns: 5, y)) <= 1e-10)
        #expect(Self.relative(r.x, y + [0]) <= 1e-8, "x: \(Self.relative(r.x, y + [0]))")
        #expect(abs(r.x[5]) <= 1e-12)
    }

    /// Full-rank A: no rank check, rank d reported from the factored Newton matrix.
    @Test func fullRankIsReportedAsSuch() throws {
        let (a, b, w) = try Self.problem(rows: 80, columns: 5, seed: 5, weight: 0.3)
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: 5))
        #expect(!r.rankDeficient)
        #expect(r.numericalRank == 5)
        #expect(r.passes.rankCheck == 0)
        #expect(!r.trace.contains { $0.model == .minimumNorm })
    }

    /// Beyond `RangeBasis.maxDimension` columns the rank is not computed (a d x d eigensystem):
    /// n < d is still reported, in words, and the old damped path is kept.
    @Test func tooManyColumnsForTheRankCheckSaysSo() throws {
        let d = RangeBasis.maxDimension + 1
        let (a, b, w) = try Self.problem(rows: 6, columns: d, seed: 8, weight: 0.3)
        let p = try Problem(matrix: a, target: b, weights: w, function: .exp)
        var options = SolverOptions()
        options.maxIterations = 1
        let r = try NewtonSolver(options: options).solve(p, from: [Double](repeating: 0, count: d))
        #expect(r.rankDeficient)
        #expect(r.numericalRank == nil)
        #expect(r.passes.rankCheck == 0)
        #expect(r.warnings.contains { $0.contains("not computed") && $0.contains("not the minimum-norm one") })
        #expect(r.trace.dropFirst().allSatisfy { $0.model == .damped })
    }

    /// The rank path (dense Gram, eigensystem, dgemm, dense Cholesky) keeps the project's rule:
    /// the same bits for any thread count. 40 000 rows, so the passes are split into chunks.
    @Test func sameBitsWithOneAndTwoThreads() throws {
        var settings = PlantedProblem.Settings(rows: 40000, columns: 20, density: 0.2)
        settings.function = .exp; settings.weight = 0.5; settings.seed = 12; settings.noise = 0.1
        let base = try PlantedProblem.generate(settings).problem()
        let a = base.matrix
        var rows: [Int] = [0], columns: [Int32] = [], values: [Double] = []
        for i in 0..<a.rowCount {
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] { columns.append(a.columnIndices[k]); values.append(a.values[k]) }
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] where a.columnIndices[k] == 0 { columns.append(20); values.append(a.values[k]) }
            rows.append(columns.count)
        }
        let wide = try CSRMatrix(rowCount: a.rowCount, columnCount: 21, rowOffsets: rows, columnIndices: columns, values: values)
        let p = try Problem(matrix: wide, target: base.target, weights: base.weights, function: .exp)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let (r1, used1) = try Parallelism.withThreadCount(1) { try NewtonSolver().solve(p, from: x0) }
        let (r2, used2) = try Parallelism.withThreadCount(2) { try NewtonSolver().solve(p, from: x0) }
        #expect(used1.mostThreads == 1 && used2.mostThreads == 2)
        #expect(r1.rankDeficient && r1.numericalRank == 20)
        #expect(r1.termination == .converged)
        #expect(r1.x == r2.x)
        #expect(r1.finalLoss == r2.finalLoss)
        #expect(r1.iterations == r2.iterations)
        // The duplicated columns share x_1 evenly in the minimum-norm x (V's eigenvectors are
        // accurate to about 1e-15, so 1e-12 is far above round-off and far below any real split).
        #expect(abs(r1.x[0] - r1.x[20]) <= 1e-12 * max(1, abs(r1.x[0])))
    }

    static func gaussianSolve(_ m0: [Double], _ rhs: [Double], _ n: Int) -> [Double] {
        var m = m0, x = rhs
        for c in 0..<n {
            let p = (c..<n).max { abs(m[$0 * n + c]) < abs(m[$1 * n + c]) } ?? c
            if p != c { for j in 0..<n { m.swapAt(c * n + j, p * n + j) }; x.swapAt(c, p) }
            for i in (c + 1)..<n {
                let f = m[i * n + c] / m[c * n + c]
                for j in c..<n { m[i * n + j] -= f * m[c * n + j] }
                x[i] -= f * x[c]
            }
        }
        for c in stride(from: n - 1, through: 0, by: -1) {
            for j in (c + 1)..<n { x[c] -= m[c * n + j] * x[j] }
            x[c] /= m[c * n + c]
        }
        return x
    }
}
