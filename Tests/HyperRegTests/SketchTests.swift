import Foundation
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// Dense lower Cholesky factor L (row-major, K = L L^T) of a symmetric positive definite K.
private func denseCholesky(_ k: [Double], _ n: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: n * n)
    for j in 0..<n {
        var s = k[j * n + j]
        for p in 0..<j { s -= l[j * n + p] * l[j * n + p] }
        guard s > 0 else { return nil }
        l[j * n + j] = s.squareRoot()
        for i in (j + 1)..<max(j + 1, n) {
            var t = k[i * n + j]
            for p in 0..<j { t -= l[i * n + p] * l[j * n + p] }
            l[i * n + j] = t / l[j * n + j]
        }
    }
    return l
}

/// Eigenvalues of `K^{-1/2} Kt K^{-1/2}`, i.e. of `L^{-1} Kt L^{-T}` with `K = L L^T`.
private func relativeEigenvalues(_ k: [Double], _ kt: [Double], _ n: Int) -> [Double]? {
    guard let l = denseCholesky(k, n) else { return nil }
    func forward(_ b: [Double]) -> [Double] {  // L^{-1} b, b a column
        var y = b
        for i in 0..<n {
            for p in 0..<i { y[i] -= l[i * n + p] * y[p] }
            y[i] /= l[i * n + i]
        }
        return y
    }
    // Y = L^{-1} Kt (column by column), then C = L^{-1} Y^T.
    var y = [Double](repeating: 0, count: n * n)
    for c in 0..<n {
        let col = forward((0..<n).map { kt[$0 * n + c] })
        for r in 0..<n { y[r * n + c] = col[r] }
    }
    var cMat = [Double](repeating: 0, count: n * n)
    for c in 0..<n {
        let col = forward((0..<n).map { y[c * n + $0] })  // column c of Y^T is row c of Y
        for r in 0..<n { cMat[r * n + c] = col[r] }
    }
    // Symmetrise round-off before Jacobi.
    for r in 0..<n { for c in (r + 1)..<max(r + 1, n) { let m = 0.5 * (cMat[r * n + c] + cMat[c * n + r]); cMat[r * n + c] = m; cMat[c * n + r] = m } }
    return Dense.symmetricEigenvalues(cMat, n)
}

/// Exact leverage scores `D_i a_i^T (A^T D A)^{-1} a_i`, densely.
private func exactLeverageScores(_ a: CSRMatrix, _ d: [Double]) throws -> [Double] {
    let n = a.rowCount, cols = a.columnCount
    let dense = a.denseRowMajor()
    let k = Dense.weightedGram(dense, rows: n, columns: cols, weights: d)
    return try (0..<n).map { i in
        let row = Array(dense[(i * cols)..<((i + 1) * cols)])
        let sol = try #require(Dense.choleskySolve(k, row))
        return d[i] * zip(row, sol).reduce(0) { $0 + $1.0 * $1.1 }
    }
}

/// A planted exp problem and its sketch diagonal D at the log-fit start: a realistic,
/// non-uniform D (it varies with exp(Ax) over rows).
private func plantedDiagonal(rows: Int, columns: Int, density: Double, seed: UInt64) throws -> (CSRMatrix, [Double]) {
    var s = PlantedProblem.Settings(rows: rows, columns: columns, density: density)
    s.function = .exp; s.weight = 0.1; s.noise = 0.1; s.seed = seed
    let p = try PlantedProblem.generate(s).problem()
    let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
    let obj = Objective(problem: p)
    return (p.matrix, obj.sketchWeights(obj.evaluate(x0)))
}

@Suite("Leverage-score sketch")
struct SketchTests {
    @Test func exactPathMatchesDenseLeverageScores() throws {
        // n <= m: the estimate is the exact QR computation; it must agree with the dense
        // normal-equations formula to round-off (K is well conditioned here: 1e-10).
        let (a, d) = try plantedDiagonal(rows: 60, columns: 20, density: 0.5, seed: 2)
        let sampler = LeverageSampler(matrix: a, options: SketchOptions())
        #expect(a.rowCount <= sampler.embeddingRows)
        let est = try sampler.estimate(diagonal: d)
        #expect(est.isExact)
        let exact = try exactLeverageScores(a, d)
        #expect(relativeMaxDifference(est.scores, exact) < 1e-10)
        // Leverage scores of a full-rank n x d matrix sum to d.
        #expect(abs(exact.reduce(0, +) - 20) < 1e-9)
    }

    @Test func sketchedEstimatesWithinConstantFactor() throws {
        // n = 6000 > m = 4 d = 80: the sparse embedding and the Gaussian projection are used
        // (k = 16 Gaussian columns, the default's cap). An estimate is the exact score times the
        // embedding's distortion of that row's direction (in [1/(1+e)^2, 1/(1-e)^2] with
        // e ~ sqrt(d/m) = 0.5) times a chi-square(k)/k factor. Checked for every row with a
        // nonzero score: within a factor 10 of the exact score; the median ratio in [0.7, 1.4]
        // (the m/(m-d-1) bias is corrected); and the sum of the estimates (an unbiased
        // estimate of rank = d) within 30% of d.
        for seed in UInt64(1)...3 {
            let (a, d) = try plantedDiagonal(rows: 6000, columns: 20, density: 0.3, seed: seed)
            var options = SketchOptions(); options.seed = seed
            let sampler = LeverageSampler(matrix: a, options: options)
            #expect(a.rowCount > sampler.embeddingRows)
            let est = try sampler.estimate(diagonal: d)
            #expect(!est.isExact)
            let exact = try exactLeverageScores(a, d)
            let ratios = zip(est.scores, exact).filter { $0.1 > 1e-12 }.map { $0.0 / $0.1 }.sorted()
            let median = ratios[ratios.count / 2]
            let below = Double(ratios.filter { $0 < 0.5 }.count) / Double(ratios.count)
            let sum = est.scores.reduce(0, +)
            #expect(ratios.first! > 0.1 && ratios.last! < 10, "ratio range [\(ratios.first!), \(ratios.last!)]")
            #expect(median > 0.7 && median < 1.4, "median ratio \(median)")
            #expect(abs(sum / 20 - 1) < 0.3, "sum of estimates \(sum) for rank 20")
            print("leverage estimate, seed \(seed): ratio range [\(ratios.first!), \(ratios.last!)], median \(median), below 1/2: \(below), sum \(sum)")
        }
    }

    @Test func sampledHessianIsSpectralApproximation() throws {
        // Lemma 6.4 with the defaults eps = 0.5, delta = 0.01: every eigenvalue of
        // (A^T D A)^{-1/2} (A^T D~ A) (A^T D A)^{-1/2} in [1 - eps, 1 + eps] in at least
        // (1 - delta) of seeded trials; with 20 trials that means all 20.
        let options = SketchOptions()
        var worst = 0.0
        var totalKept = 0
        let trials = 20
        for trial in 0..<trials {
            let (a, d) = try plantedDiagonal(rows: 20000, columns: 16, density: 0.25, seed: UInt64(100 + trial % 4))
            var o = options; o.seed = UInt64(trial + 1)
            let sampler = LeverageSampler(matrix: a, options: o)
            let scores = try sampler.estimate(diagonal: d, salt: UInt64(trial))
            let pick = sampler.sample(scores, beta: o.oversampling(dimension: a.columnCount), salt: UInt64(trial))
            totalKept += pick.rows.count
            #expect(pick.rows.count < a.rowCount / 2, "the sample must be a real subsample")
            let pattern = try NormalMatrixPattern(matrix: a)
            let k = pattern.denseSymmetric(pattern.assemble(a, weights: d))
            let kt = pattern.denseSymmetric(pattern.assemble(a, weights: pick.weights, rows: pick.rows))
            let eig = try #require(relativeEigenvalues(k, kt, a.columnCount))
            worst = max(worst, abs(eig.first! - 1), abs(eig.last! - 1))
            #expect(eig.first! >= 1 - o.epsilon && eig.last! <= 1 + o.epsilon, "trial \(trial): eigenvalues in [\(eig.first!), \(eig.last!)]")
        }
        print("sketch spectral check: \(trials) trials, mean rows kept \(totalKept / trials) of 20000, worst |lambda - 1| = \(worst)")
    }

    @Test func rescaledScoresBoundTheNewScores() throws {
        // Re-use: for D' within a ratio spread of 2 of D, the rescaled old scores are upper
        // bounds of D''s exact scores (up to round-off, 1e-9 relative).
        let (a, d) = try plantedDiagonal(rows: 60, columns: 20, density: 0.5, seed: 7)
        var options = SketchOptions(); options.reuseRatio = 2
        let sampler = LeverageSampler(matrix: a, options: options)
        let old = try sampler.estimate(diagonal: d)  // exact path (n <= m)
        var rng = FixtureRandom(seed: 9)
        let dNew = d.map { $0 * rng.uniform(0.75, 1.45) }  // spread <= 1.45 / 0.75 < 2
        let re = try #require(sampler.rescale(old, to: dNew))
        let exactNew = try exactLeverageScores(a, dNew)
        for i in 0..<a.rowCount { #expect(re.scores[i] >= exactNew[i] * (1 - 1e-9)) }
        // A spread beyond the ratio is refused.
        #expect(sampler.rescale(old, to: d.enumerated().map { $0.offset == 0 ? $0.element * 3 : $0.element }) == nil)
    }

    @Test func embeddingIsIndependentOfThreadCount() throws {
        let (a, d) = try plantedDiagonal(rows: 30000, columns: 12, density: 0.3, seed: 4)
        var results: [[Double]] = []
        for threads in [1, 2, 3] {
            let (scores, used) = try Parallelism.withThreadCount(threads) {
                try LeverageSampler(matrix: a, options: SketchOptions()).estimate(diagonal: d, salt: 5).scores
            }
            #expect(used.passes > 0 && used.mostThreads == threads, "\(threads) threads asked, \(used.mostThreads) used")
            results.append(scores)
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }
}

@Suite("Hessian strategies")
struct StrategyTests {
    /// A planted problem big enough that the sample keeps well under half the rows.
    private func problem(_ kind: FunctionKind, seed: UInt64) throws -> Problem {
        var s = PlantedProblem.Settings(rows: 20000, columns: 10, density: 0.3)
        s.function = kind; s.weight = 0.01; s.noise = 0.05; s.seed = seed
        return try PlantedProblem.generate(s).problem()
    }

    @Test(arguments: FunctionKind.allCases)
    func sketchAndExactReachTheSameSolution(kind: FunctionKind) throws {
        let p = try problem(kind, seed: 21)
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        var exactOptions = SolverOptions(); exactOptions.hessian = .exact
        var sketchOptions = SolverOptions(); sketchOptions.hessian = .sketch
        let exact = try NewtonSolver(options: exactOptions).solve(p, from: x0)
        let sketch = try NewtonSolver(options: sketchOptions).solve(p, from: x0)
        #expect(exact.termination == .converged)
        #expect(sketch.termination == .converged, "\(sketch.message)")
        #expect(sketch.strategy == .sketch)
        // The sample really was a subsample, and the sketch models were used.
        let kept = sketch.trace.compactMap(\.rowsKept)
        #expect(!kept.isEmpty && kept.allSatisfy { $0 < p.rowCount / 2 })
        #expect(sketch.trace.dropFirst().allSatisfy { [.sketch, .sketchDiagonal, .damped].contains($0.model) })
        // Both stop at relative gradient <= 1e-10 at a minimiser with a positive definite
        // Hessian, so each is within ||g|| / lambda_min of it: 1e-8 relative leaves slack.
        #expect(relativeDistance(sketch.x, exact.x) < 1e-8, "distance \(relativeDistance(sketch.x, exact.x))")
    }

    @Test func paperContractsInTheTheoremsRegime() throws {
        // Theorem F.1's regime: w_i^2 = 100 >= 100 (+ l / sigma_min^2, small here), x0 near
        // x*. Every iteration must contract ||x_t - x*|| by at least 0.4.
        var s = PlantedProblem.Settings(rows: 20000, columns: 10, density: 0.3)
        s.function = .exp; s.weight = 10; s.noise = 0.05; s.seed = 31
        let p = try PlantedProblem.generate(s).problem()
        var exactOptions = SolverOptions(); exactOptions.hessian = .exact
        let xStar = try NewtonSolver(options: exactOptions).solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0).x
        let x0 = xStar.enumerated().map { $1 + 0.01 * (($0 % 2 == 0) ? 1 : -1) }
        var options = SolverOptions(); options.hessian = .paper; options.reference = xStar; options.tolerance = 1e-8
        let r = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(r.strategy == .paper)
        #expect(r.termination == .converged, "\(r.message)")
        let contractions = r.trace.compactMap(\.contraction)
        #expect(contractions.count == r.iterations && !contractions.isEmpty)
        // Past ||x_t - x*|| ~ 1e-10 the reference itself (exact to ~1e-12) dominates, so only
        // rows with a distance above 1e-9 are checked.
        for row in r.trace.dropFirst() where (r.trace[row.iteration - 1].referenceDistance ?? 0) > 1e-9 {
            #expect(row.contraction! <= 0.4, "iteration \(row.iteration): contraction \(row.contraction!)")
        }
        print("paper contraction: \(contractions.map { String(format: "%.3g", $0) }.joined(separator: " "))")
    }

    @Test func paperStopsWhenTheDiagonalIsNotPositive() throws {
        // exp with w = 0 far from x*: some delta_i < 0, which Lemma 6.4 excludes.
        var s = PlantedProblem.Settings(rows: 2000, columns: 10, density: 0.3)
        s.function = .exp; s.weight = 0; s.noise = 0.3; s.seed = 5
        let p = try PlantedProblem.generate(s).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .random, seed: 2).x0
        var options = SolverOptions(); options.hessian = .paper
        let r = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(r.termination == .assumptionViolated)
        #expect(r.message.contains("D_ii <= 0"))
        #expect(!r.isSolutionUsable)
    }

    @Test func automaticPicksExactForSmallProblems() throws {
        let p = try problem(.exp, seed: 3)
        let r = try NewtonSolver().solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0)
        #expect(r.strategy == .exact)
        #expect(!r.strategyReason.isEmpty)
    }
}

@Suite("Assembly kernel choice")
struct AssemblyKernelTests {
    @Test func costModelPicksDenseBlocksOnlyForDenseRows() {
        let m = HessianCostModel()
        // 1000 of 2000 columns per row: d^2/2 BLAS multiply-adds beat k^2/2 scattered updates.
        #expect(m.assemblyCost(pairs: 1e4 * 1000 * 1001 / 2, rows: 1e4, dimension: 2000, patternIsDense: true).dense)
        // 20 of 200 per row: the scatter does 210 updates a row against 20 100 multiply-adds.
        #expect(!m.assemblyCost(pairs: 1e6 * 210, rows: 1e6, dimension: 200, patternIsDense: true).dense)
        // Above d = 8192 the full d x d work matrix (512 MiB) is not worth it, however dense the rows.
        #expect(!m.assemblyCost(pairs: 1e3 * 9000 * 9001 / 2, rows: 1e3, dimension: 9000, patternIsDense: true).dense)
        // A sparse pattern never goes dense, however full its rows.
        #expect(!m.assemblyCost(pairs: 1e4 * 1000 * 1001 / 2, rows: 1e4, dimension: 2000, patternIsDense: false).dense)
    }

    /// Dense rows (density 0.9): exact Newton assembles by dense blocks, and reaches the x
    /// that the sparse scatter reaches (forced by making BLAS infinitely expensive). Both
    /// stop at relative gradient <= 1e-10 at the same minimiser; 1e-8 relative leaves slack
    /// for the different summation orders.
    @Test func denseRowsUseDenseBlocksAndReachTheSameSolution() throws {
        var s = PlantedProblem.Settings(rows: 2000, columns: 60, density: 0.9)
        s.function = .exp; s.weight = 0.1; s.noise = 0.05; s.seed = 5
        let p = try PlantedProblem.generate(s).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        var options = SolverOptions(); options.hessian = .exact; options.tolerance = 1e-10
        let dense = try NewtonSolver(options: options).solve(p, from: x0)
        options.costModel.denseGramPerMultiplyAdd = .infinity
        let sparse = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(dense.termination == .converged && sparse.termination == .converged)
        #expect(dense.passes.denseBlockAssembly == dense.passes.assembly && dense.passes.assembly > 0)
        #expect(sparse.passes.denseBlockAssembly == 0)
        #expect(relativeDistance(dense.x, sparse.x) < 1e-8, "distance \(relativeDistance(dense.x, sparse.x))")
    }
}

@Suite("Round-off floor")
struct RoundoffFloorTests {
    @Test(arguments: [HessianStrategy.exact, .sketch])
    func toleranceZeroEndsAtTheRoundoffFloorNotAtTheIterationLimit(strategy: HessianStrategy) throws {
        // With tolerance 0 no run can converge; once the predicted decrease is below the
        // noise of L, steps accepted by Armijo on round-off must still halve ||g|| or the
        // run ends `converged_at_roundoff` (a success: x usable), long before 200 iterations.
        var s = PlantedProblem.Settings(rows: 20000, columns: 10, density: 0.3)
        s.function = .exp; s.weight = 1; s.noise = 0.1; s.seed = 41
        let p = try PlantedProblem.generate(s).problem()
        var options = SolverOptions(); options.hessian = strategy; options.tolerance = 0; options.maxIterations = 200
        let r = try NewtonSolver(options: options).solve(p, from: try StartPoint.compute(for: p, strategy: .automatic).x0)
        #expect(r.termination == .convergedAtRoundoff, "\(r.termination) after \(r.iterations) iterations: \(r.message)")
        #expect(r.isSolutionUsable)
        #expect(r.message.hasPrefix("converged to the round-off floor"), "\(r.message)")
        #expect(r.iterations < 200)
        #expect(r.relativeGradientNorm < 1e-10)
    }
}
