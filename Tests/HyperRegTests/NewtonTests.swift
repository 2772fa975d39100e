import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// Dense Newton with the dense Hessian from the formulas (independent of the sparse
/// assembly, CHOLMOD and Woodbury): full steps while they do not raise L beyond round-off,
/// halving otherwise, until the step stalls. Meant to start near a minimiser.
func denseNewtonReference(_ p: Problem, from x0: [Double]) -> [Double]? {
    let obj = Objective(problem: p)
    var x = x0
    var e = obj.evaluate(x)
    for _ in 0..<100 {
        let pieces = obj.gradientPieces(e)
        let h = denseHessian(p, at: x)
        guard let s = Dense.choleskySolve(h, pieces.gradient.map { -$0 }) else { return nil }
        if norm2(s) <= 1e-15 * max(norm2(x), 1e-300) { return x }
        var t = 1.0
        var moved = false
        for _ in 0..<50 {
            let xt = zip(x, s).map { $0 + t * $1 }
            let et = obj.evaluate(xt)
            if et.loss <= e.loss + 1e-14 * abs(e.loss) { x = xt; e = et; moved = true; break }
            t /= 2
        }
        if !moved { return x }
    }
    return x
}

@Suite("Exact Newton solver", .checksCholmodLeaks)
struct NewtonTests {
    @Test(arguments: FunctionKind.allCases)
    func matchesDenseReferenceOnSmallProblems(kind: FunctionKind) throws {
        // Noisy planted data, small weights: a nontrivial local minimiser for all three
        // functions (cosh and sinh are not convex, so "the" answer is the local minimiser
        // the solver reaches; the dense reference must agree that it is one). For sinh a
        // noise of 0.1 already removes every nontrivial minimiser (measured), hence 0.05.
        var settings = PlantedProblem.Settings(rows: 200, columns: 8, density: 0.4)
        settings.function = kind; settings.weight = 0.01; settings.noise = 0.05; settings.seed = 3
        let p = try PlantedProblem.generate(settings).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let result = try NewtonSolver().solve(p, from: x0)
        #expect(result.termination == .converged)
        #expect(result.warnings.isEmpty)
        #expect(result.finalLoss <= result.initialLoss)
        // The independent dense Newton (dense Hessian from the formulas, dense Cholesky),
        // restarted from a 0.1% perturbation, must return to the same point.
        let perturbed = result.x.enumerated().map { $1 * (1 + 1e-3 * Double($0 % 3 - 1)) }
        let reference = try #require(denseNewtonReference(p, from: perturbed))
        // Both stop at relative gradient <= 1e-10 near a minimiser with a positive definite
        // Hessian, so ||x - x*|| <= ||g|| / lambda_min: 1e-8 relative leaves ~100x slack.
        #expect(relativeDistance(result.x, reference) < 1e-8)
        // Second-order check: the dense Hessian at the solution is positive definite.
        #expect(Dense.symmetricEigenvalues(denseHessian(p, at: result.x), p.columnCount)[0] > 0)
    }

    @Test func recoversPlantedSolutionExp() throws {
        var s = PlantedProblem.Settings(rows: 3000, columns: 20, density: 0.2)
        s.function = .exp; s.weight = 0; s.seed = 5
        let planted = try PlantedProblem.generate(s)
        let p = try planted.problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .converged || r.termination == .convergedAtRoundoff)
        // Noiseless, w = 0: x_true is the exact minimiser (L = 0). 1e-8 relative: Newton's
        // quadratic convergence drives the error to round-off (~1e-14) once the relative
        // gradient is 1e-10 and the Hessian at x_true is well conditioned (random A).
        #expect(relativeDistance(r.x, planted.xTrue) < 1e-8)
    }

    @Test func recoversPlantedSolutionCoshUpToSign() throws {
        var s = PlantedProblem.Settings(rows: 3000, columns: 20, density: 0.2)
        s.function = .cosh; s.weight = 0; s.seed = 6
        let planted = try PlantedProblem.generate(s)
        let p = try planted.problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .converged || r.termination == .convergedAtRoundoff)
        // cosh is even, so -x_true fits as well as x_true.
        let distance = min(relativeDistance(r.x, planted.xTrue), relativeDistance(r.x.map { -$0 }, planted.xTrue))
        #expect(distance < 1e-8)
    }

    @Test func recoversPlantedSolutionSinhFromDefaultStart() throws {
        var s = PlantedProblem.Settings(rows: 3000, columns: 20, density: 0.2)
        s.function = .sinh; s.weight = 0; s.seed = 7
        let planted = try PlantedProblem.generate(s)
        let p = try planted.problem()
        let start = try StartPoint.compute(for: p, strategy: .automatic)
        #expect(start.used == .inverseFit)
        let r = try NewtonSolver().solve(p, from: start.x0)
        #expect(r.warnings.isEmpty)   // not the trivial minimiser x = 0
        #expect(relativeDistance(r.x, planted.xTrue) < 1e-8)
    }

    @Test(arguments: [FunctionKind.cosh, .sinh])
    func zeroStartIsReportedAsStationary(kind: FunctionKind) throws {
        let (p, _) = try smallProblem(kind)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: p.columnCount))
        #expect(r.termination == .stationaryStart)
        #expect(r.message.contains("x0 = 0"))
    }

    @Test func indefiniteHessianFallsBackToGaussNewton() throws {
        // cosh with w = 0 near x = 0: delta_i ~ n (||b||^2 - b_i) is negative where b_i is
        // above average, so K = A^T diag(delta) A is indefinite and CHOLMOD's LL^T fails.
        var s = PlantedProblem.Settings(rows: 400, columns: 10, density: 0.3)
        s.function = .cosh; s.weight = 0; s.seed = 2
        let p = try PlantedProblem.generate(s).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .random, seed: 3).x0.map { $0 * 0.01 }
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.trace[1].model == .gaussNewton)
        #expect(r.trace[1].rejectedModels.contains { $0.hasPrefix("exact: not positive definite") })
        #expect(r.trace.last?.model == .exact)   // exact Newton takes over near the minimiser
        #expect(r.termination == .converged)
    }

    @Test func singularHessianTakesMinimumNormSteps() throws {
        // An all-zero column makes every A^T diag(.) A singular, so exact and Gauss-Newton
        // both fail; the rank check then finds rank 8 of 9 and the minimum-norm Newton step
        // in range(A^T) carries the iteration (MinimumNormStep.swift).
        var s = PlantedProblem.Settings(rows: 500, columns: 8, density: 0.3)
        s.function = .exp; s.weight = 0.5; s.seed = 4; s.noise = 0.1
        let planted = try PlantedProblem.generate(s)
        let a = planted.matrix
        let widened = CSRMatrix(uncheckedRowCount: a.rowCount, columnCount: a.columnCount + 1, rowOffsets: a.rowOffsets,
                                columnIndices: a.columnIndices, values: a.values)
        let p = try Problem(matrix: widened, target: planted.target, weights: planted.weights, function: .exp)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: 9))
        #expect(r.trace[1].model == .minimumNorm)
        #expect(r.trace.dropFirst().allSatisfy { $0.model == .minimumNorm })
        #expect(r.rankDeficient && r.numericalRank == 8)
        #expect(r.trace[1].rejectedModels.count == 2)
        #expect(r.termination == .converged)
        #expect(r.x[8] == 0)   // the empty column's coefficient never moves
        // The refusals are typed (a CHOLMOD pivot in 1...9 for both), worded as before.
        #expect(r.trace[1].rejections.map(\.model) == [.exact, .gaussNewton])
        for rejection in r.trace[1].rejections {
            guard case .notPositiveDefinite(let pivot) = rejection.reason else {
                Issue.record("expected a CHOLMOD pivot failure, got \(rejection.reason)")
                continue
            }
            #expect(pivot >= 1 && pivot <= 9)
        }
        for row in r.trace { #expect(row.rejectedModels == row.rejections.map(\.description)) }
    }

    @Test func overflowingStartIsNonFiniteAndNamesX0() throws {
        // u(A x0) overflows: no longer a thrown error but the non_finite status,
        // blaming x0 (2000 is larger than every entry of A).
        let (p, _) = try smallProblem(.exp)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 2000, count: p.columnCount))
        #expect(r.termination == .nonFinite)
        #expect(!r.isSolutionUsable)
        guard case .start(_, let value)? = r.nonFiniteCause else { Issue.record("cause \(String(describing: r.nonFiniteCause))"); return }
        #expect(value == 2000)
        #expect(r.message.contains("overflow at the start point"), "\(r.message)")
    }

    @Test func iterationLimitIsReportedAndNeverWorseThanStart() throws {
        let (p, x) = try smallProblem(.cosh, weight: 0.1)
        var o = SolverOptions(); o.maxIterations = 1
        let r = try NewtonSolver(options: o).solve(p, from: x.map { $0 * 3 })
        #expect(r.termination == .iterationLimit || r.termination == .converged)
        #expect(r.iterations <= 1)
        #expect(r.finalLoss <= r.initialLoss)
        #expect(r.trace.count == r.iterations + 1)
    }

    @Test func invalidOptionsAreRejected() throws {
        let (p, x) = try smallProblem(.exp)
        var o = SolverOptions(); o.tolerance = -1
        #expect(throws: SolverError.self) { try NewtonSolver(options: o).solve(p, from: x) }
    }

    @Test func sameBitsWithOneAndTwoThreads() throws {
        var s = PlantedProblem.Settings(rows: 40000, columns: 30, density: 0.1)
        s.function = .exp; s.weight = 1; s.seed = 9; s.noise = 0.1
        let p = try PlantedProblem.generate(s).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        // Task-local counts: concurrent tests cannot change them, and the usage says what ran.
        let (r1, used1) = try Parallelism.withThreadCount(1) { try NewtonSolver().solve(p, from: x0) }
        let (r2, used2) = try Parallelism.withThreadCount(2) { try NewtonSolver().solve(p, from: x0) }
        #expect(used1.passes > 0 && used1.mostThreads == 1)
        #expect(used2.passes > 0 && used2.mostThreads == 2)
        #expect(r1.x == r2.x)
        #expect(r1.finalLoss == r2.finalLoss)
        #expect(r1.iterations == r2.iterations)
    }
}
