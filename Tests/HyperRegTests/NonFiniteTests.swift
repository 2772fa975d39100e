// Overflow anywhere in the solver ends in `Termination.nonFinite` (or an error at the input)
// naming the input entry responsible, never in a NaN that passes a test (a matrix
// with one entry of 1e155 and x0 = 0 was "converged" at iteration 0 with "-nan <=
// tolerance"). docs/reliability.md, "Numerical faults".

#if canImport(Glibc)
import Glibc
#endif
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// How the start point of a case is chosen.
enum NonFiniteStart: String, CaseIterable, Sendable { case zero, random, given }

@Suite("Non-finite arithmetic is named, never converged", .checksCholmodLeaks)
struct NonFiniteTests {
    /// A 30 x 4 problem (entries in [0.1, 1)), exp, b a probability vector, w = 1.
    func problem(huge: Double? = nil, target: [Double]? = nil, weights: [Double]? = nil) throws -> Problem {
        var rng = SeededGenerator(seed: 5)
        var dense = (0..<120).map { _ in 0.1 + 0.9 * Double(rng.next() >> 11) / Double(1 << 53) }
        if let h = huge { dense[17 * 4 + 2] = h }   // row 18, column 3 (1-based)
        let a = CSRMatrix(denseRowMajor: dense, rowCount: 30, columnCount: 4)
        let b = target ?? [Double](repeating: 1.0 / 30, count: 30)
        return try Problem(matrix: a, target: b, weights: weights ?? [Double](repeating: 1, count: 30), function: .exp)
    }

    @Test(arguments: [1e155, 1e308], NonFiniteStart.allCases)
    func hugeEntryOfAIsNonFiniteForEveryStrategy(value: Double, start: NonFiniteStart) throws {
        let p = try problem(huge: value)
        let x0: [Double]
        switch start {
        case .zero: x0 = try StartPoint.compute(for: p, strategy: .zero).x0
        case .random: x0 = try StartPoint.compute(for: p, strategy: .random, seed: 3).x0
        case .given: x0 = [0.1, 0.1, 0.1, 0.1]
        }
        for strategy in [HessianStrategy.exact, .sketch, .paper, .automatic, .pcg] {
            var o = SolverOptions(); o.hessian = strategy
            let r = try NewtonSolver(options: o).solve(p, from: x0)
            #expect(r.termination == .nonFinite, "\(strategy) \(start): \(r.termination) \(r.message)")
            #expect(r.nonFiniteCause == .matrix(row: 18, column: 3, value: value), "\(strategy) \(start): \(r.message)")
            #expect(!r.isSolutionUsable)
            #expect(r.message.contains("A row 18, column 3 holds"), "\(r.message)")
            #expect(!r.message.contains("nan"), "\(r.message)")
        }
    }

    @Test func hessianOverflowAloneIsNonFiniteForEveryStrategy() throws {
        // 1e154: g, p and q stay finite at x0 = 0 (||p||^2 ~ 1e308), but the Newton matrix
        // A^T D A has D_18 a^2 ~ 2e308: caught after assembly (full or sampled), before CHOLMOD.
        let b = (0..<30).map { i in (1 + 0.5 * sin(Double(i))) / 30 }
        let p = try problem(huge: 1e154, target: b)
        let x0 = [Double](repeating: 0, count: 4)
        let e = Objective(problem: p).evaluate(x0)
        let pieces = Objective(problem: p).gradientPieces(e)
        #expect(norm2(pieces.gradient).isFinite && norm2(pieces.p).isFinite && norm2(pieces.q).isFinite,
                "the fault was not isolated: the gradient already overflows")
        for strategy in [HessianStrategy.exact, .sketch, .paper, .automatic, .pcg] {
            var o = SolverOptions(); o.hessian = strategy
            let r = try NewtonSolver(options: o).solve(p, from: x0)
            #expect(r.termination == .nonFinite, "\(strategy): \(r.termination) \(r.message)")
            #expect(r.nonFiniteCause == .matrix(row: 18, column: 3, value: 1e154), "\(strategy): \(r.message)")
            #expect(r.message.contains("Newton Hessian A^T D A overflows"), "\(r.message)")
        }
    }

    /// The least-squares starts check the assembled diagonal of A^T A (no separate pass over A
    /// beforehand) and name the entry only then: log-fit, the automatic exp start, inverse-fit
    /// and the automatic sinh start; 1e155 squares to infinity alone, 1e308 too.
    @Test(arguments: [1e155, 1e308])
    func startPointsNameTheEntryOfAWhenATransposeAOverflows(huge: Double) throws {
        let e = try problem(huge: huge)
        let s = try Problem(matrix: e.matrix, target: e.target, weights: e.weights, function: .sinh)
        for (p, strategy) in [(e, StartStrategy.logFit), (e, .automatic), (s, .inverseFit), (s, .automatic)] {
            let error = try #require(throws: SolverError.self) { try StartPoint.compute(for: p, strategy: strategy) }
            guard case .nonFinite(let cause, let words) = error else { Issue.record("\(error)"); continue }
            #expect(cause == .matrix(row: 18, column: 3, value: huge), "\(strategy)")
            #expect(words.contains("A row 18, column 3 holds "), "\(words)")
            #expect(words.hasPrefix(strategy == .inverseFit || p.function == .sinh ? "inverse-fit start: " : "log-fit start: "), "\(words)")
        }
        // The random start stays finite (its rms is scaled by max |A x| first) and nonzero.
        let x = try StartPoint.compute(for: try problem(huge: 1e155), strategy: .random).x0
        #expect(x.allSatisfy(\.isFinite) && x.contains { $0 != 0 })
    }

    @Test func targetWhoseSquareOverflowsIsRejectedWithItsEntry() throws {
        var b = [Double](repeating: 1.0 / 30, count: 30)
        b[4] = 1e300
        let error = try #require(throws: ProblemError.self) { try problem(target: b) }
        #expect(error.cause == .target(index: 5, value: 1e300))
        #expect(error.message.hasPrefix("b entry 5 is 1.0e300: ||b||^2 overflows"), "\(error.message)")
    }

    @Test func weightWhoseSquareOverflowsIsRejectedWithItsEntry() throws {
        var w = [Double](repeating: 1, count: 30)
        w[8] = 1e300
        let error = try #require(throws: ProblemError.self) { try problem(weights: w) }
        #expect(error.cause == .weights(index: 9, value: 1e300))
        #expect(error.message.hasPrefix("w entry 9 is 1.0e300"), "\(error.message)")
    }

    /// A 30 x 2 problem whose first column is all ones, so that x0 = (t, 0) puts (A x0)_i = t.
    func onesProblem(target: [Double], weights: [Double]) throws -> Problem {
        let dense = (0..<30).flatMap { i in [1.0, 0.01 * Double(i)] }
        return try Problem(matrix: CSRMatrix(denseRowMajor: dense, rowCount: 30, columnCount: 2), target: target, weights: weights, function: .exp)
    }

    @Test func targetTimesSumOfUOverflowingIsNonFiniteAndNamesB() throws {
        // ||b||^2 = 1e300 is fine, but <u,1> b_5 = 30 e^10 1e150 squared is not.
        var b = [Double](repeating: 1.0 / 30, count: 30)
        b[4] = 1e150
        let p = try onesProblem(target: b, weights: [Double](repeating: 1, count: 30))
        let r = try NewtonSolver().solve(p, from: [10, 0])
        #expect(r.termination == .nonFinite)
        #expect(r.nonFiniteCause == .target(index: 5, value: 1e150), "\(r.message)")
        #expect(r.message.contains("b entry 5 is 1.0e150: u(A x0)·<u,1> b overflows"), "\(r.message)")
        #expect(!r.isSolutionUsable)
    }

    @Test func weightTimesAxOverflowingIsNonFiniteAndNamesW() throws {
        // w_9^2 = 1e306 is fine, but (w_9 (A x0)_9)^2 = 4e308 is not.
        var w = [Double](repeating: 1, count: 30)
        w[8] = 1e153
        let p = try onesProblem(target: [Double](repeating: 1.0 / 30, count: 30), weights: w)
        let r = try NewtonSolver().solve(p, from: [20, 0])
        #expect(r.termination == .nonFinite)
        #expect(r.nonFiniteCause == .weights(index: 9, value: 1e153), "\(r.message)")
        #expect(r.message.contains("w entry 9 is 1.0e153: ||diag(w) A x0||^2 overflows"), "\(r.message)")
    }

    @Test(arguments: [1e300, -1e300])
    func hugeStartEntryIsNonFiniteAndNamesX0(value: Double) throws {
        // +1e300: u(A x0) overflows; -1e300: exp(A x0) = 0 but ||w o A x0||^2 overflows.
        let p = try problem()
        for strategy in [HessianStrategy.exact, .sketch, .paper] {
            var o = SolverOptions(); o.hessian = strategy
            let r = try NewtonSolver(options: o).solve(p, from: [0.1, value, 0.1, 0.1])
            #expect(r.termination == .nonFinite)
            #expect(r.nonFiniteCause == .start(index: 2, value: value), "\(r.message)")
            #expect(r.message.contains("x0 entry 2 is"), "\(r.message)")
        }
    }

    @Test func diagnosticsRefuseAnOverflowingGradientAndNameA() throws {
        let p = try problem(huge: 1e155)
        let error = try #require(throws: DiagnosticsError.self) { try TheoryDiagnostics.compute(problem: p, at: [0, 0, 0, 0]) }
        #expect(error.cause == .matrix(row: 18, column: 3, value: 1e155), "\(error.message)")
    }

    @Test func leverageScoresAreNotReusedForANonFiniteDiagonal() throws {
        let a = randomCSR(rows: 200, columns: 5, density: 0.5, seed: 2)
        var o = SketchOptions(); o.reuseRatio = 4
        let sampler = LeverageSampler(matrix: a, options: o)
        let d = [Double](repeating: 1, count: 200)
        let scores = try sampler.estimate(diagonal: d)
        #expect(sampler.rescale(scores, to: d.map { $0 * 1.5 }) != nil)   // the control: re-use works
        var bad = d; bad[7] = .nan
        #expect(sampler.rescale(scores, to: bad) == nil)
        bad[7] = .infinity
        #expect(sampler.rescale(scores, to: bad) == nil)
    }

    @Test func messageNumbersCarryIntoTheExponent() {
        // 1e-14 divided down is 9.999999999999998: rounded to 10.0, it must read 1.0e-14.
        #expect(fmt(1e-14) == "1.0e-14")
        #expect(fmt(1e-10) == "1.0e-10")
        #expect(fmt(9.996e-5) == "1.0e-4")
        #expect(fmt(1e155) == "1.0e155")
        #expect(fmt(-2.5e-7) == "-2.5e-7")
        #expect(fmt(0.5) == "0.5")
    }
}
