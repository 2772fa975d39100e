// What the parts of one solve share (docs/architecture.md, "The minimiser's parts"): the
// problem and its objective, the options, the resolved Hessian strategy, the clock, the pass
// counters and timings, the CHOLMOD system once analysed, and the iterate every part reads.

import Cholmod
import SparseCore

/// The iterate the minimiser carries from one iteration to the next: x, the evaluation at x
/// (z = A x, u, v, c, the loss), the gradient with its rank-2 pieces p and q, and ||g||.
struct IterateState {
    var x: [Double]
    var evaluation: Evaluation
    var pieces: GradientPieces
    var gradientNorm: Double
    /// z was formed as `A x` by a pass (the start, or a full step whose z the line search
    /// formed), so L and g need no recomputing from x at the end; false after z + t A s.
    var zIsExact: Bool
    /// The exact Hessian's `A^T diag(delta) A` at this iterate when it was assembled in the
    /// gradient's sweep (exact Newton, `Minimizer.gradient`), for the next iteration.
    var exactHessian: PreassembledHessian? = nil
    var gradient: [Double] { pieces.gradient }
}

/// A Newton matrix assembled ahead, in the sweep of the gradient at the same iterate.
struct PreassembledHessian {
    /// The packed upper triangle (pattern order), summed over all rows (and ranks).
    var values: [Double]
    /// Rows whose weight delta_i is not finite (over all ranks).
    var nonFiniteWeights: Int
}

/// How a run ends before (or instead of) an accepted step: the termination, its sentence and,
/// for `nonFinite`, the input entry responsible.
struct MinimizerStop {
    var termination: Termination
    var message: String
    var cause: NonFiniteCause? = nil

    /// The `nonFinite` stop for a diagnosis (cause, words) made at `place`.
    static func nonFinite(_ place: String, _ diagnosis: (cause: NonFiniteCause, words: String)) -> MinimizerStop {
        MinimizerStop(termination: .nonFinite, message: "\(place): \(diagnosis.words)", cause: diagnosis.cause)
    }

    /// Where the iterate that iteration `iteration` starts from is, for messages: the start
    /// point (iteration 1, or before the first iteration) or the previous iterate.
    static func place(iteration: Int) -> String {
        iteration <= 1 ? "overflow at the start point" : "overflow at the iterate of iteration \(iteration - 1)"
    }

    /// `nonFinite` for a Newton matrix (or its weights D) that overflows at the iterate of
    /// iteration `iteration`.
    static func hessianOverflow(_ context: SolveContext, _ state: IterateState, diagonal d: [Double], iteration: Int) -> MinimizerStop {
        nonFinite(place(iteration: iteration),
                  NonFiniteDiagnosis.hessian(context.problem, state.x, state.evaluation, diagonal: d, atStart: iteration <= 1))
    }
}

/// Facts about one iteration that the parts write and the trace records: the leverage-score
/// sample's size and whether it re-used scores (set by whichever source sampled).
struct IterationNotes {
    var rowsKept: Int? = nil
    var leverageReused: Bool? = nil
    /// `pcg`: CG iterations, the preconditioner's age and why CG stopped.
    var cgIterations: Int? = nil
    var preconditionerAge: Int? = nil
    var cgStop: CGStop? = nil
}

/// Shared services and counters of one solve. A class: the step sources, the Hessian weights,
/// the globalisation and the summary all add to the same counters.
final class SolveContext {
    let options: SolverOptions
    let problem: Problem
    let objective: Objective
    /// `||b||^2`, the rank-2 part's constant.
    let targetSquaredNorm: Double
    /// The strategy used (`automatic` resolved) and why.
    let strategy: HessianStrategy
    let strategyReason: String
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    var timings = SolveTimings()
    var passes = PassCounter()
    var leverageEstimates = 0, leverageReuses = 0
    var warnings: [String] = []
    /// The CHOLMOD system, once the symbolic analysis is done.
    var system: HessianSystem? = nil
    /// This iteration's notes (reset by the minimiser at the start of each iteration).
    var notes = IterationNotes()
    /// Set by the minimiser when this iteration's Newton-CG step is predicted to end the run
    /// (`PreconditionedNewtonCG.predictedGradientNorm`): the line search then forms a full
    /// step's z = A (x + s) by a pass instead of z + A s from CG's product, so that the end
    /// point needs no recomputing (two passes for one).
    var formsLastFullStep = false
    /// ||g(x0)||, for relative gradient norms in messages (set once the start is evaluated).
    var initialGradientNorm = 0.0
    /// What the rank check found (nil when it did not run: MinimumNormStep.swift).
    var rank: RankFinding? = nil

    init(options: SolverOptions, problem: Problem, strategy: HessianStrategy, strategyReason: String,
         started: ContinuousClock.Instant) {
        self.options = options
        self.problem = problem
        self.objective = Objective(problem: problem)
        self.targetSquaredNorm = problem.targetSquaredNorm
        self.strategy = strategy
        self.strategyReason = strategyReason
        self.started = started
    }

    var matrix: CSRMatrix { problem.matrix }

    /// Seconds since the solve started.
    func elapsed() -> Double { seconds(clock.now - started) }

    /// Runs `body`, adding its time to `timings.passes`.
    func timed<T>(_ body: () -> T) -> T {
        let t0 = clock.now
        let r = body()
        timings.passes += seconds(clock.now - t0)
        return r
    }

    /// `A s`: one forward pass, timed and counted, into a pooled n-vector.
    func forward(_ s: [Double]) -> [Double] {
        var r = objective.pool.take(matrix.rowCount)
        timed { matrix.multiply(s, into: &r) }
        passes.forward += 1
        return r
    }

    /// The running totals of each kind of time, to difference into `IterationTimes`.
    func snapshot() -> IterationTimes {
        var t = IterationTimes()
        t.passes = timings.passes; t.sketch = timings.sketch
        t.assembly = system?.assembleSeconds ?? 0
        t.factorization = system?.factorSeconds ?? 0
        t.solve = system?.solveSeconds ?? 0
        return t
    }
}
