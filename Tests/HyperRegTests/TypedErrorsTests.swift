// Errors and refusals carry typed values, not only words: the trace's rejections, the
// reference source, the solver's CHOLMOD and LAPACK errors, the generator's settings.

import Cholmod
import DenseLinearAlgebra
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("Typed errors and rejections")
struct TypedErrorsTests {
    // The typed rejections of a real run: NewtonTests.singularHessianTakesMinimumNormSteps.

    @Test func everyReasonHasItsWords() {
        let cases: [(ModelRejection, String)] = [
            (ModelRejection(.exact, .notPositiveDefinite(pivot: 3)), "exact: not positive definite (CHOLMOD pivot 3)"),
            (ModelRejection(.exact, .indefiniteRankTwo), "exact: indefinite (rank-2 part)"),
            (ModelRejection(.damped, .noPositiveDefiniteShift(upTo: 1e6)), "damped: no positive definite shift up to \(fmt(1e6))"),
            (ModelRejection(.sketch, .noDecrease(halvings: 60)), "sketch: line search found no decrease in 60 halvings"),
            (ModelRejection(.gaussNewton, .nonFiniteStep), "gauss_newton: non-finite step"),
            (ModelRejection(.exact, .notDescent), "exact: not a descent direction"),
            (ModelRejection(.minimumNorm, .notPositiveDefiniteInRange(pivot: 52)),
             "minimum_norm: not positive definite in range(A^T) (LAPACK dpotrf pivot 52)"),
            (ModelRejection(.exact, .rankDeficient(rcond: 1e-18)), "exact: numerically singular (CHOLMOD rcond \(fmt(1e-18))), A rank-deficient"),
        ]
        for (rejection, words) in cases { #expect(rejection.description == words) }
    }

    @Test func theReferenceSourceIsTyped() throws {
        var s = PlantedProblem.Settings(rows: 300, columns: 5, density: 0.5)
        s.weight = 0.1; s.seed = 6
        let planted = try PlantedProblem.generate(s)
        let p = try planted.problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        let converged = try NewtonSolver().solve(p, from: x0)
        #expect(converged.termination == .converged)
        #expect(converged.reference == .finalIterate && converged.referenceSource == "final_iterate")
        var options = SolverOptions()
        options.reference = planted.xTrue
        let given = try NewtonSolver(options: options).solve(p, from: x0)
        #expect(given.reference == .given && given.referenceSource == "given")
    }

    @Test func solverErrorsKeepTheErrorTheyCameFrom() {
        let cholmod = SolverError.wrapping(CholmodError.outOfMemory, during: "exact step")
        #expect(cholmod == .cholmod(.outOfMemory, during: "exact step"))
        #expect(cholmod.description.hasPrefix("factorization failed: exact step: "))
        let lapack = SolverError.wrapping(DenseLAPACKError.failed(routine: "dgeqrf", info: -4), during: "leverage scores")
        #expect(lapack == .lapack(.failed(routine: "dgeqrf", info: -4), during: "leverage scores"))
        #expect(SolverError.wrapping(SolverError.invalidOptions("x"), during: "y") == .invalidOptions("x"))
    }

    @Test func theEigenWrapperNamesTheOffendingEntry() {
        #expect(throws: DenseLAPACKError.nonFinite(row: 2, column: 1, value: .infinity)) {
            try DenseSymmetricEigen.eigenvalues([1, 0, .infinity, 1], dimension: 2)
        }
        #expect(throws: DenseLAPACKError.self) { try DenseSymmetricEigen.eigenvalues([1, 2, 3], dimension: 2) }
    }

    @Test func diagnosticsErrorsAreTyped() throws {
        // An entry of 1e155 at x = e_1: u(Ax) overflows; the error says which entry.
        let a = try CSRMatrix(rowCount: 2, columnCount: 2, rowOffsets: [0, 1, 2], columnIndices: [0, 1], values: [1e155, 1])
        let p = try Problem(matrix: a, target: [0.5, 0.5], weight: 1, function: .exp)
        let error = try #require(throws: DiagnosticsError.self) { try TheoryDiagnostics.compute(problem: p, at: [1, 0]) }
        guard case .overflow(.matrix(row: 1, column: 1, value: 1e155)) = error.kind else {
            Issue.record("kind \(error.kind)")
            return
        }
        #expect(error.cause == .matrix(row: 1, column: 1, value: 1e155))
    }
}

@Suite("Option rules in one place")
struct OptionRulesTests {
    @Test func everyOptionIsCheckedWithItsValue() {
        var o = SolverOptions()
        #expect(throws: Never.self) { try o.check() }
        o.tolerance = -1
        #expect(throws: OptionsError.tolerance(-1)) { try o.check() }
        // validate() is check() in words, as SolverError.invalidOptions.
        #expect(throws: SolverError.invalidOptions("tolerance must be finite and >= 0, got -1.0")) { try o.validate() }
        o = SolverOptions(); o.sketch.epsilon = 1
        #expect(throws: OptionsError.epsilon(1)) { try o.check() }
        o = SolverOptions(); o.sketch.reuseRatio = 0.5
        #expect(throws: OptionsError.reuseRatio(0.5)) { try o.check() }
        o = SolverOptions(); o.refinementSteps = -2
        #expect(throws: OptionsError.refinementSteps(-2)) { try o.check() }
        o = SolverOptions(); o.pcgSampleFactor = 0
        #expect(throws: OptionsError.pcgSampleFactor(0)) { try o.check() }
        o = SolverOptions(); o.pcgSampleFactor = .infinity
        #expect(throws: OptionsError.pcgSampleFactor(.infinity)) { try o.check() }
        o = SolverOptions(); o.reference = [0, .nan]
        #expect(throws: OptionsError.self) { try o.check() }
    }
}
