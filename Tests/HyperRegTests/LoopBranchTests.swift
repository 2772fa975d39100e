// The Newton loop's control branches (issue 13, docs/reliability.md "Numerical faults"),
// each driven through the public API with a small crafted problem: the callback stop, the
// paper strategy's `diverged`, the damping loop that finds no step, the Armijo acceptance
// test, and the fall-back to x0 (the last through the CLI, Tests/CLITests/BundledDataTests).
// Branches that cannot be reached this way are listed in docs/reliability.md with the hook
// a test would need.

import HyperRegTestSupport
import SparseCore
import Synchronization
import Testing
@testable import HyperReg

/// Records the callback's records; the callback must be @Sendable.
final class RecordLog: Sendable {
    private let records = Mutex<[IterationRecord]>([])
    func append(_ r: IterationRecord) { records.withLock { $0.append(r) } }
    var all: [IterationRecord] { records.withLock { $0 } }
}

@Suite("Newton loop branches", .checksCholmodLeaks)
struct LoopBranchTests {
    @Test func callbackReturningFalseAtTheStartStopsBeforeAnyIteration() throws {
        let (p, x0) = try smallProblem(.exp)
        let log = RecordLog()
        var o = SolverOptions()
        o.onIteration = { log.append($0); return false }
        let r = try NewtonSolver(options: o).solve(p, from: x0)
        #expect(r.termination == .stoppedByCallback)
        #expect(r.message.contains("at the start point"), "\(r.message)")
        #expect(r.iterations == 0)
        #expect(r.x == x0)
        #expect(log.all.map(\.iteration) == [0])
    }

    @Test func callbackReturningFalseStopsAfterThatIteration() throws {
        // cosh from 3 x (a random point) needs more than 2 iterations (checked below), so only
        // the callback can end the run after iteration 2.
        let (p, x) = try smallProblem(.cosh, weight: 0.1)
        let x0 = x.map { $0 * 3 }
        let free = try NewtonSolver().solve(p, from: x0)
        try #require(free.iterations > 3 && free.termination == .converged, "fixture: \(free.iterations) iterations, \(free.termination)")
        let log = RecordLog()
        var o = SolverOptions()
        o.onIteration = { log.append($0); return $0.iteration < 2 }
        let r = try NewtonSolver(options: o).solve(p, from: x0)
        #expect(r.termination == .stoppedByCallback)
        #expect(r.message.contains("after 2 iterations"), "\(r.message)")
        #expect(r.iterations == 2)
        #expect(log.all.map(\.iteration) == [0, 1, 2])
        #expect(log.all.map(\.loss) == r.trace.map(\.loss))
        // The returned x is the iterate of iteration 2 (not x0, not a later one): its loss,
        // recomputed from x, equals the trace's to round-off, and is below the start's.
        #expect(r.x != x0)
        #expect(r.finalLoss < r.initialLoss)
        #expect(abs(r.finalLoss - r.trace[2].loss) <= 1e-12 * r.trace[2].loss)
        #expect(r.isSolutionUsable)
    }

    /// sinh, A = a column of ones with one entry 10 (row 2), b = e_1, w = 0.1: the paper's
    /// matrix lacks the rank-2 part ~ n^2, so its full steps are ~n times too long.
    static func paperSinhProblem(n: Int) throws -> Problem {
        var builder = CoordinateBuilder(rowCount: n, columnCount: 1)
        for i in 0..<n { builder.append(row: i, column: 0, value: i == 1 ? 10 : 1) }
        let b = (0..<n).map { $0 == 0 ? 1.0 : 0 }
        return try Problem(matrix: builder.build(), target: b, weights: [Double](repeating: 0.1, count: n), function: .sinh)
    }

    @Test func paperGoingUphillIsSaidInWords() throws {
        // The problem below with n = 1000: the full steps stay finite but run uphill (L from
        // about 51 to about 1e56 in its T iterations). Algorithm 1 as printed has no fall-back
        // to x0, so x is where it went; the result must say that x is worse than x0.
        let p = try Self.paperSinhProblem(n: 1000)
        var o = SolverOptions(); o.hessian = .paper
        let r = try NewtonSolver(options: o).solve(p, from: [0.01])
        try #require(r.finalLoss > r.initialLoss, "fixture: the paper run should end uphill (\(r.finalLoss) vs \(r.initialLoss))")
        #expect(r.warnings.contains { $0.contains("above L(x0)") && $0.contains("not a better point") }, "\(r.warnings)")
    }

    @Test func paperFullStepThatOverflowsIsDiverged() throws {
        // sinh, A = a column of ones with one entry 10, b = e_1, x0 = 0.01: the paper's matrix
        // A^T (B_diag + W^2) A (all D_i >= cosh^2 > 0, so Algorithm 1's assumption holds) lacks
        // the rank-2 part ||b||^2 p p^T ~ n^2, about n = 10^4 times the curvature it keeps, so
        // the full step is ~10^4 times too long and sinh(A x) overflows. Found by a search
        // over n, the large entry and x0 (n = 10^3 does not overflow).
        let p = try Self.paperSinhProblem(n: 10_000)
        var o = SolverOptions(); o.hessian = .paper
        let r = try NewtonSolver(options: o).solve(p, from: [0.01])
        #expect(r.termination == .diverged, "\(r.termination): \(r.message)")
        #expect(r.message.contains("makes u(Ax) overflow"), "\(r.message)")
        #expect(r.iterations == 0)
        #expect(!r.isSolutionUsable)
        #expect(r.x == [0.01])
        // With a line search the same start is harmless.
        o.hessian = .exact
        let exact = try NewtonSolver(options: o).solve(p, from: [0.01])
        #expect(exact.isSolutionUsable)
    }

    @Test func dampingThatFindsNoDescentStepStalls() throws {
        // sinh with w = 1e10 from x0 ~ 1e-175: ||g|| ~ w^2 |A x0| ~ 1e-155 is representable,
        // but the predicted decrease <g, s> ~ w^2 |A x0|^2 ~ 1e-330 underflows to 0 for every
        // model. Exact and Gauss-Newton are refused ("not a descent direction"); the damping
        // loop raises mu 30 times without a step with <g, s> < 0 and gives up with "no
        // positive definite shift". The run must stall at x0, not loop or return NaN.
        let (p0, x) = try smallProblem(.sinh, n: 40, d: 3, weight: 1, seed: 1)
        let p = try Problem(matrix: p0.matrix, target: p0.target, weights: [Double](repeating: 1e10, count: 40), function: .sinh)
        let x0 = x.map { $0 * 1e-175 }
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .stalled, "\(r.termination): \(r.message)")
        #expect(r.message.contains("damped: no positive definite shift"), "\(r.message)")
        #expect(r.message.contains("exact: not a descent direction"), "\(r.message)")
        #expect(r.iterations == 0)
        #expect(r.x == x0)
    }

    @Test func aShiftThatOverflowsInTheDampingLoopStallsInWords() throws {
        // The same underflowing slope with w = 1e150: the mean diagonal is ~1e300, so mu
        // (from 1e-8 of it, times 10 per try) reaches inf before the 30 tries end. The search
        // stops there like at its try limit: `stalled`, the damped model refused in words
        // (it used to hand CHOLMOD the infinite shift and throw its error).
        let (p0, x) = try smallProblem(.sinh, n: 40, d: 3, weight: 1, seed: 1)
        let p = try Problem(matrix: p0.matrix, target: p0.target, weights: [Double](repeating: 1e150, count: 40), function: .sinh)
        let x0 = x.map { $0 * 1e-300 * 1e-12 }   // subnormal: ~1e-312
        let r = try NewtonSolver().solve(p, from: x0)
        #expect(r.termination == .stalled, "\(r.termination): \(r.message)")
        #expect(r.message.contains("damped: no positive definite shift up to"), "\(r.message)")
        #expect(r.x == x0)
    }

    @Test(arguments: [FunctionKind.exp, .cosh])
    func everyAcceptedStepMeetsTheArmijoCondition(kind: FunctionKind) throws {
        // With armijo = 0.49 (the largest the options allow) a step is accepted only if
        // L(x + t s) <= L(x) + 0.49 t <g, s>. Re-run one iteration at a time from far starts
        // (where full steps overshoot and backtracking happens) and check the condition on
        // each accepted step, with g recomputed independently of the loop.
        var o = SolverOptions(); o.armijo = 0.49; o.maxIterations = 1; o.measurePass = false
        var backtracked = 0
        for seed in UInt64(14)...18 {
            let (p, x) = try smallProblem(kind, n: 40, d: 3, weight: 0.3, seed: seed)
            let objective = Objective(problem: p)
            var xk = x.map { $0 * 30 }
            for _ in 0..<6 {
                let r = try NewtonSolver(options: o).solve(p, from: xk)
                guard r.iterations == 1, let step = r.trace.last, step.model != nil else { break }
                let ek = objective.evaluate(xk)
                let g = objective.gradient(ek)
                let t = step.stepLength
                // The accepted point is the trace's iterate; r.x may have fallen back to x0.
                #expect(r.finalLoss <= r.initialLoss)
                #expect(r.x != xk, "seed \(seed): fell back to x0 after an accepted step (loss \(step.loss) vs \(r.initialLoss))")
                let s = zip(r.x, xk).map { ($0 - $1) / t }
                let slope = zip(g, s).reduce(0) { $0 + $1.0 * $1.1 }
                let noise = 100 * Double.ulpOfOne * max(1, abs(ek.loss))
                if -slope > noise {   // outside the round-off regime, where a rise within noise is allowed
                    #expect(r.finalLoss <= ek.loss + 0.49 * t * slope + noise,
                            "seed \(seed): L went from \(ek.loss) to \(r.finalLoss), t = \(t), slope \(slope)")
                }
                if step.backtracks > 0 { backtracked += 1 }
                xk = r.x
            }
        }
        #expect(backtracked > 0, "fixture: no step backtracked, so the acceptance test was never exercised")
    }
}
