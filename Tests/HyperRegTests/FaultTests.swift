// Numerical faults injected into the solver (docs/reliability.md): each must end in a
// defined status or a clear error, never a crash, a NaN answer or a silent "converged" at a
// meaningless point. Faults already covered in NewtonTests: overflow at x0
// (overflowingStartIsNonFiniteAndNamesX0; more overflow cases in NonFiniteTests), the stationary zero start of cosh and sinh, an indefinite
// Hessian far from x* (indefiniteHessianFallsBackToGaussNewton), an all-zero column
// (singularHessianTakesMinimumNormSteps).

import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("Injected numerical faults", .checksCholmodLeaks)
struct FaultTests {
    @Test func overflowingTrialStepIsRejectedByTheLineSearch() throws {
        // From 100 x (a random point), exp's Gauss-Newton step overshoots so far that
        // u(A (x0 + s)) overflows (found by a search over seeds and scales): the line search
        // must treat the non-finite trial as "no decrease" and halve, never accept it.
        let (p, x) = try smallProblem(.exp, n: 40, d: 3, weight: 0.3, seed: 16)
        let x0 = x.map { $0 * 100 }
        let objective = Objective(problem: p)
        #expect(objective.evaluate(x0).isFinite)
        var one = SolverOptions(); one.maxIterations = 1
        let r1 = try NewtonSolver(options: one).solve(p, from: x0)
        let t = r1.trace[1].stepLength
        #expect(t < 1)
        #expect(r1.trace[1].backtracks > 0)
        let fullStep = zip(x0, zip(r1.x, x0).map { ($0 - $1) / t }).map { $0 + $1 }
        #expect(!objective.evaluate(fullStep).isFinite, "the fault was not injected: the full step does not overflow")
        #expect(r1.finalLoss < r1.initialLoss)
        // The whole solve still ends at a usable point.
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.isSolutionUsable)
        #expect(r.finalLoss < r.initialLoss)
        #expect([.converged, .convergedAtRoundoff, .stalled].contains(r.termination))
    }

    @Test func inconsistentDimensionsAreRejectedBeforeSolving() throws {
        let a = randomCSR(rows: 10, columns: 3, density: 0.5, seed: 1)
        let ten = [Double](repeating: 0.1, count: 10), nine = [Double](repeating: 0.1, count: 9)
        #expect(throws: ProblemError("b has 9 entries but A has 10 rows", kind: .lengthMismatch(vector: "b", entries: 9, expected: 10))) {
            try Problem(matrix: a, target: nine, weights: ten, function: .exp)
        }
        #expect(throws: ProblemError("w has 9 entries but A has 10 rows", kind: .lengthMismatch(vector: "w", entries: 9, expected: 10))) {
            try Problem(matrix: a, target: ten, weights: nine, function: .exp)
        }
        let p = try Problem(matrix: a, target: ten, weights: ten, function: .exp)
        #expect(throws: SolverError.self) { try NewtonSolver().solve(p, from: [0, 0]) }
        let empty = CSRMatrix(uncheckedRowCount: 0, columnCount: 3, rowOffsets: [0], columnIndices: [], values: [])
        #expect(throws: ProblemError("A is 0 x 3: it needs at least one row and one column", kind: .emptyMatrix(rows: 0, columns: 3))) {
            try Problem(matrix: empty, target: [], weights: [], function: .exp)
        }
    }

    @Test(arguments: [-1.0, .nan, .infinity, -.infinity])
    func badWeightIsRejected(weight: Double) throws {
        let a = randomCSR(rows: 10, columns: 3, density: 0.5, seed: 1)
        var w = [Double](repeating: 1, count: 10)
        w[6] = weight
        let error = try #require(throws: ProblemError.self) {
            try Problem(matrix: a, target: [Double](repeating: 0.1, count: 10), weights: w, function: .cosh)
        }
        #expect(error.message.hasPrefix("w[7] = "))
        switch error.kind {
        case .negativeWeight(index: 7, value: let v): #expect(weight.isFinite && v == weight)
        case .nonFiniteEntry(.weights(index: 7, value: let v)): #expect(!weight.isFinite && (v == weight || (v.isNaN && weight.isNaN)))
        default: Issue.record("kind \(error.kind)")
        }
    }

    @Test func nonFiniteDataAndStartAreRejected() throws {
        let a = randomCSR(rows: 10, columns: 3, density: 0.5, seed: 1)
        var b = [Double](repeating: 0.1, count: 10)
        b[2] = .nan
        let nanError = try #require(throws: ProblemError.self) { try Problem(matrix: a, target: b, weight: 1, function: .exp) }
        #expect(nanError.message == "b[3] = nan is not finite")
        guard case .nonFiniteEntry(.target(index: 3, value: let v)) = nanError.kind, v.isNaN else {
            Issue.record("kind \(nanError.kind)")
            return
        }
        let bad = a.withValues(a.values.enumerated().map { $0 == 4 ? .infinity : $1 })
        #expect(throws: ProblemError.self) { try Problem(matrix: bad, target: [Double](repeating: 0.1, count: 10), weight: 1, function: .exp) }
        let p = try Problem(matrix: a, target: [Double](repeating: 0.1, count: 10), weight: 1, function: .exp)
        #expect(throws: SolverError.self) { try NewtonSolver().solve(p, from: [0, .nan, 0]) }
    }

    @Test(arguments: FunctionKind.allCases)
    func allZeroRowIsHarmless(kind: FunctionKind) throws {
        // A row of zeros gives z_i = 0 whatever x: u_i = u(0) is a constant the fit must
        // live with, never a source of NaN.
        let (p, x) = try smallProblem(kind, weight: 0.1, seed: 2)
        let a = p.matrix
        let offsets = CSRBuffer(a.rowOffsets + [a.rowOffsets.last!])
        let widened = CSRMatrix(uncheckedRowCount: a.rowCount + 1, columnCount: a.columnCount, rowOffsets: offsets,
                                columnIndices: a.columnIndices, values: a.values)
        let q = try Problem(matrix: widened, target: p.target + [0.01], weights: p.weights + [0.1], function: kind)
        let r = try NewtonSolver().solve(q, from: x)
        #expect(r.termination == .converged)
        #expect(r.isSolutionUsable)
        #expect(r.relativeGradientNorm <= 1e-10)
    }

    @Test func rankDeficientMatrixStillConverges() throws {
        // Column 4 duplicates column 1: A^T D A is singular for every D, so the rank check
        // (on Gauss-Newton's pivot failure) switches to the minimum-norm Newton step. x is then
        // defined up to x_1 + x_4, and the gradient must still be driven to the tolerance.
        let (p, x) = try smallProblem(.exp, n: 80, d: 3, weight: 0.2, seed: 5)
        let a = p.matrix
        var rows: [Int] = [0], columns: [Int32] = [], values: [Double] = []
        for i in 0 ..< a.rowCount {
            for k in a.rowOffsets[i] ..< a.rowOffsets[i + 1] {
                columns.append(a.columnIndices[k]); values.append(a.values[k])
            }
            for k in a.rowOffsets[i] ..< a.rowOffsets[i + 1] where a.columnIndices[k] == 0 {
                columns.append(3); values.append(a.values[k])
            }
            rows.append(columns.count)
        }
        let deficient = try CSRMatrix(rowCount: a.rowCount, columnCount: 4, rowOffsets: rows, columnIndices: columns, values: values)
        let q = try Problem(matrix: deficient, target: p.target, weights: p.weights, function: .exp)
        let r = try NewtonSolver().solve(q, from: x + [0])
        #expect(r.isSolutionUsable)
        // Exactly singular at the first iteration (both d x d models refused), then Newton
        // steps in range(A^T) only (no more d x d factorisations that round-off could let pass).
        #expect(r.trace[1].model == .minimumNorm)
        #expect(r.trace[1].rejectedModels.count == 2)
        #expect(r.trace.dropFirst(2).allSatisfy { $0.rejectedModels.isEmpty && $0.model == .minimumNorm })
        #expect(r.rankDeficient && r.numericalRank == 3)
        #expect(r.termination == .converged)
        #expect(r.relativeGradientNorm <= 1e-10)
    }

    @Test func expWithoutWeightsDrivingUToZeroIsDegenerate() throws {
        // All entries of A positive, w = 0: along x = -t (1, 1) every u_i = exp(z_i) -> 0 and
        // L -> 0 without a minimiser. The solver must say so, not report "converged".
        var rng = FixtureRandom(seed: 11)
        let n = 30, d = 2
        let dense = (0 ..< n * d).map { _ in rng.uniform(0.1, 1) }
        let a = CSRMatrix(denseRowMajor: dense, rowCount: n, columnCount: d)
        let b = (0 ..< n).map { _ in rng.uniform(0, 1) }
        let p = try Problem(matrix: a, target: b, weight: 0, function: .exp)
        let r = try NewtonSolver().solve(p, from: [0, 0])
        #expect(r.termination == .degenerate)
        #expect(r.message.contains("degenerate"))
        #expect(!r.isSolutionUsable)
        #expect(r.finalLoss < r.initialLoss)
    }

    @Test func iterationLimitIsItsOwnStatus() throws {
        // Far from the minimiser (3 x a random point) two iterations cannot reach 1e-10.
        let (p, x) = try smallProblem(.cosh, weight: 0.1)
        var o = SolverOptions(); o.maxIterations = 2
        let r = try NewtonSolver(options: o).solve(p, from: x.map { $0 * 3 })
        #expect(r.termination == .iterationLimit)
        #expect(r.iterations == 2)
        #expect(r.relativeGradientNorm > 1e-10)
        #expect(r.isSolutionUsable)
        #expect(r.finalLoss <= r.initialLoss)
    }
}
