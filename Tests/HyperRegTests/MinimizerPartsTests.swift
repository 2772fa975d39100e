// The minimiser's parts checked from the outside (issue 13): every accepted step satisfies the
// line search's Armijo inequality with the recorded slope; an exact (rank-2) Newton step is
// only ever taken where the whole Hessian is positive definite; the fall-back chains are data.

import Foundation
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg
import Cholmod

@Suite("Minimiser parts", .checksCholmodLeaks)
struct MinimizerPartsTests {
    /// Runs with a line search: the behaviour-freeze cases (bar the paper's full steps), and
    /// far starts with large Armijo constants, where a full step often lands between
    /// `L + c t slope` and `L - c t slope` (so a sign error in the acceptance test shows).
    static func lineSearchRuns() throws -> [(name: String, options: SolverOptions, result: SolverResult)] {
        var runs: [(String, SolverOptions, SolverResult)] = []
        for c in BehaviourCases.all {
            let (p, x0, o) = try c.make()
            guard o.hessian != .paper else { continue }
            runs.append((c.name, o, try NewtonSolver(options: o).solve(p, from: x0)))
        }
        for kind in FunctionKind.allCases {
            for seed: UInt64 in 7...12 {
                let (p, x) = try smallProblem(kind, n: 80, d: 5, weight: 0.3, seed: seed)
                for armijo in [0.25, 0.45, 0.49] {
                    for scale in [3.0, 10.0] {
                        var o = SolverOptions(); o.armijo = armijo; o.hessian = .exact
                        runs.append(("\(kind) seed \(seed) armijo \(armijo) start x\(scale)", o,
                                     try NewtonSolver(options: o).solve(p, from: x.map { $0 * scale })))
                    }
                }
            }
        }
        return runs
    }

    @Test func everyAcceptedStepSatisfiesTheArmijoInequality() throws {
        var steps = 0, backtracked = 0
        for (name, o, r) in try Self.lineSearchRuns() {
            for k in r.trace.indices.dropFirst() {
                let row = r.trace[k], previous = r.trace[k - 1]
                let slope = try #require(row.slope, "\(name) iteration \(k): no slope recorded")
                #expect(slope < 0, "\(name) iteration \(k): slope \(slope) is not a descent")
                let t = row.stepLength
                // The same arithmetic as the line search's test: L(x + t s) <= L(x) + c t slope ...
                let armijo = row.loss <= previous.loss + o.armijo * t * slope
                // ... or, in the round-off regime only, the full step with L not above the noise.
                let noise = o.roundoffFactor * Double.ulpOfOne * max(1, abs(previous.loss))
                let roundoff = t == 1 && -slope <= noise && row.loss <= previous.loss + noise
                #expect(armijo || roundoff, "\(name) iteration \(k): L \(row.loss) > \(previous.loss) + \(o.armijo) x \(t) x \(slope)")
                steps += 1
                if row.backtracks > 0 { backtracked += 1 }
            }
        }
        #expect(steps > 300 && backtracked > 10, "\(steps) steps, \(backtracked) backtracked: the runs do not exercise the line search")
    }

    @Test func paperStepsRecordTheirSlopeToo() throws {
        let c = try #require(BehaviourCases.all.first { $0.name == "exp paper (theorem regime)" })
        let (p, x0, o) = try c.make()
        let r = try NewtonSolver(options: o).solve(p, from: x0)
        #expect(r.trace.first?.slope == nil)
        #expect(r.iterations > 0 && r.trace.dropFirst().allSatisfy { $0.model == .paper && ($0.slope ?? 0) < 0 })
    }

    /// Where the trace says the exact model (with its rank-2 part) was taken, the dense
    /// Hessian from the formulas at the previous iterate is positive definite; where it says
    /// the rank-2 part made the matrix indefinite, it is not. The iterates are recovered by
    /// re-running with `maxIterations = k` (the runs are deterministic to the bit).
    @Test func exactStepsOnlyWhereTheWholeHessianIsPositiveDefinite() throws {
        var indefinite = 0, exact = 0
        for name in ["keys-river-l5h10 cosh w=0", "keys-river-l0h3 cosh w=0", "sinh exact"] {
            let c = try #require(BehaviourCases.all.first { $0.name == name })
            let (p, x0, o) = try c.make()
            let r = try NewtonSolver(options: o).solve(p, from: x0)
            for k in r.trace.indices.dropFirst() {
                let row = r.trace[k]
                let rankTwoRefused = row.rejectedModels.contains("exact: indefinite (rank-2 part)")
                guard row.model == .exact || rankTwoRefused else { continue }
                var before = o; before.maxIterations = k - 1
                let x = k == 1 ? x0 : try NewtonSolver(options: before).solve(p, from: x0).x
                let smallest = Dense.symmetricEigenvalues(denseHessian(p, at: x), p.columnCount)[0]
                if row.model == .exact {
                    exact += 1
                    #expect(smallest > 0, "\(name) iteration \(k): exact step taken where the Hessian's smallest eigenvalue is \(smallest)")
                }
                if rankTwoRefused {
                    indefinite += 1
                    #expect(smallest < 0, "\(name) iteration \(k): refused as indefinite, smallest eigenvalue \(smallest)")
                }
            }
        }
        #expect(indefinite >= 3 && exact >= 10, "\(indefinite) indefinite refusals, \(exact) exact steps checked")
    }

    @Test func fallbackChainsNameTheirModelsFromTheirMembers() throws {
        let (p, _) = try smallProblem(.exp)
        var names: [HessianStrategy: [String]] = [:]
        for strategy in [HessianStrategy.exact, .sketch, .paper] {
            var o = SolverOptions(); o.hessian = strategy
            let context = SolveContext(options: o, problem: p, strategy: strategy, strategyReason: "test", started: ContinuousClock.now)
            let system = try HessianSystem(matrix: p.matrix, context: try Cholmod.CholmodContext())
            let parts = try StepSourceFactory.make(for: strategy, context: context, system: system,
                                               sampler: LeverageSampler(matrix: p.matrix, options: o.sketch), paperIterations: 10)
            names[strategy] = parts.source.displayNames
        }
        #expect(names[.exact] == ["exact", "Gauss-Newton", "damped"])
        #expect(names[.sketch] == ["sketch", "sketch without rank-2 part", "damped"])
        #expect(names[.paper] == ["paper"])
    }
}

/// The round-off floor's two endings (issue 16): a Newton-type step that no longer halves ||g||
/// in the round-off regime ends `converged_at_roundoff`; a damped one, whose predicted
/// decrease its shift mu shrinks, stays `stalled`; a step that halves ||g|| is kept.
@Suite("Round-off floor endings")
struct RoundoffFloorEndingTests {
    /// The fall-back to x0 (docs/solver.md): when the point a run ends at, recomputed from x
    /// because its z was updated incrementally (z + t A s), is not better than x0, x0 itself is
    /// returned with a warning. The state below claims x0's evaluation (as a drifted z might)
    /// at a point whose true loss is higher. Marked as carrying an exact z, the same state is
    /// taken at its word (no recompute, no fall-back): the flag is what decides.
    @Test func anEndPointWorseThanTheStartIsReplacedByTheStart() throws {
        let (p, x0) = try smallProblem(.exp, n: 40, d: 3, weight: 0.3, seed: 16)
        var o = SolverOptions(); o.hessian = .exact
        let far = x0.map { 3 * $0 + 1 }
        func end(zIsExact: Bool) -> (SolverResult, start: Double, far: Double) {
            let context = SolveContext(options: o, problem: p, strategy: .exact, strategyReason: "test", started: ContinuousClock().now)
            let start = Minimizer(options: o, problem: p).evaluateStart(context, x0)
            var summary = SolveSummary(context: context, start: start, maxIterations: 10)
            var row = summary.trace[0]
            row.iteration = 1
            summary.record(row, x: far)
            let state = IterateState(x: far, evaluation: start.evaluation, pieces: start.pieces,
                                     gradientNorm: 0.5 * start.gradientNorm, zIsExact: zIsExact)
            let result = summary.result(MinimizerStop(termination: .converged, message: "test"), at: state)
            return (result, start.evaluation.loss, context.objective.evaluate(far).loss)
        }
        let (drifted, l0, lFar) = end(zIsExact: false)
        try #require(lFar > l0, "fixture: the far point must be worse (L = \(lFar) against \(l0))")
        #expect(drifted.x.map(\.bitPattern) == x0.map(\.bitPattern), "x is not x0")
        #expect(drifted.finalLoss == l0)
        #expect(drifted.warnings.contains { $0.contains("not better than x0, so x0 is returned") }, "\(drifted.warnings)")
        let (trusted, _, _) = end(zIsExact: true)
        #expect(trusted.x == far)
        #expect(trusted.finalLoss == l0)
        #expect(trusted.warnings.isEmpty, "\(trusted.warnings)")
    }

    @Test func theModelDecidesBetweenConvergedAtRoundoffAndStalled() throws {
        let (p, x) = try smallProblem(.exp, n: 40, d: 3, weight: 0.3, seed: 16)
        var o = SolverOptions(); o.hessian = .exact
        let context = SolveContext(options: o, problem: p, strategy: .exact, strategyReason: "test", started: ContinuousClock().now)
        let e = context.objective.evaluate(x)
        let pieces = context.objective.gradientPieces(e)
        let gNorm = pieces.gradient.map { $0 * $0 }.reduce(0, +).squareRoot()
        context.initialGradientNorm = gNorm
        let state = IterateState(x: x, evaluation: e, pieces: pieces, gradientNorm: gNorm, zIsExact: true)
        let search = ArmijoLineSearch(context: context)
        func step(_ model: StepModel) -> AcceptedStep {
            AcceptedStep(proposal: ProposedStep(model: model, direction: [0, 0, 0], slope: -1e-30, damping: model == .damped ? 1 : 0),
                         x: x, evaluation: e, length: 1, backtracks: 0, inRoundoff: true, zIsExact: true)
        }
        for model: StepModel in [.exact, .gaussNewton, .sketch, .sketchDiagonal, .pcg] {
            let stop = try #require(search.confirm(step(model), from: state, newGradientNorm: gNorm))
            #expect(stop.termination == .convergedAtRoundoff, "\(model): \(stop.termination)")
            #expect(stop.message.contains("the \(model.rawValue) step's predicted decrease 1.0e-30"), "\(stop.message)")
        }
        let damped = try #require(search.confirm(step(.damped), from: state, newGradientNorm: gNorm))
        #expect(damped.termination == .stalled)
        // Halving ||g|| keeps the step (RoundoffRule.requiredGradientReduction = 0.5) ...
        #expect(search.confirm(step(.exact), from: state, newGradientNorm: 0.5 * gNorm) == nil)
        // ... and a step outside the round-off regime is never vetoed.
        var outside = step(.exact); outside.inRoundoff = false
        #expect(search.confirm(outside, from: state, newGradientNorm: gNorm) == nil)
    }
}
