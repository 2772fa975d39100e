// The public face of the Newton driver: options, the result and its trace, terminations and
// errors, and `NewtonSolver.solve`, which validates its input and hands it to the `Minimizer`
// (Minimizer.swift; its parts are listed in docs/architecture.md, "The minimiser's parts"):
// CHOLMOD factor of A^T diag(delta) A (exact) or of a leverage-score sample of it
// (sketch and the paper's Algorithm 1), Woodbury for the rank-2 part, Armijo
// backtracking on z(t) = z + t A s, fall-backs, and an honest stopping rule.

#if canImport(Glibc)
import Glibc
#endif
import Cholmod
import DenseLinearAlgebra
import SparseCore

/// Settings of `NewtonSolver`. Every field has a documented default; `validate()` checks them.
public struct SolverOptions: Sendable {
    /// Stop when `||g(x_t)||_2 <= tolerance * ||g(x_0)||_2` (relative gradient norm,
    /// Euclidean). Default 1e-10.
    public var tolerance: Double = 1e-10
    /// Stop after this many Newton iterations. Default 100.
    public var maxIterations: Int = 100
    /// Armijo constant: accept step length t when `L(x + t s) <= L(x) + armijo * t * <g, s>`.
    /// Default 1e-4.
    public var armijo: Double = 1e-4
    /// Backtracking halves t at most this many times per model. Default 40.
    public var maxBacktracks: Int = 40
    /// Round-off regime: when the predicted decrease `-<g, s>` is below
    /// `roundoffFactor * eps * max(1, |L|)`, a decrease of L can no longer be seen in
    /// Double arithmetic; the full step is then accepted if it does not raise L by more than
    /// that noise, and kept only if it at least halves `||g||` (a Newton step in its quadratic
    /// regime does far better; steps among round-off do not). Default 100.
    public var roundoffFactor: Double = 100
    /// Called with the start point's record (iteration 0) and after every iteration; return
    /// `false` to stop (status `stopped_by_callback`). Default none.
    public var onIteration: (@Sendable (IterationRecord) -> Bool)? = nil
    /// Which Hessian to factor. Default `.automatic` (the cost model picks exact or sketch).
    public var hessian: HessianStrategy = .automatic
    /// Leverage-score sampling settings for `sketch` and `paper`.
    public var sketch = SketchOptions()
    /// The cost model of `.automatic`.
    public var costModel = HessianCostModel()
    /// `sketch` only: preconditioned refinement steps per iteration that move the sketched step
    /// towards the exact Newton step, two passes over A each (docs/solver.md "Refinement").
    /// Default 0.
    public var refinementSteps = 0
    /// `pcg` only: the row sample whose factor preconditions CG (docs/solver.md, "pcg").
    /// Default `.rowNorm` (measured faster: its first iteration skips the leverage estimate).
    public var pcgPreconditioner: PCGPreconditioner = .rowNorm
    /// `pcg` with `.rowNorm` only: expected sampled rows `m = pcgSampleFactor * d * ln d`
    /// (at most n). Default 40 (measured, docs/solver.md: at d = 200 about the leverage
    /// sample's row count, and as few Newton iterations; 10 and 20 took one more).
    public var pcgSampleFactor: Double = 40
    /// A reference solution x*: the trace then records `||x_t - x*||_2` and the contraction.
    /// Without it, a converged run measures distances to its own final iterate. Default nil.
    public var reference: [Double]? = nil
    /// Time an `A x` pass (`NewtonSolver.passSeconds`) after the solve, outside
    /// `SolveTimings.total` and the pass counts, so that iteration times can be given in passes
    /// (`SolveTimings.onePass`). Default true. A caller that times the solve itself (the command
    /// line, the C library) sets it false and measures after stopping its clock.
    public var measurePass = true
    /// Exact Newton assembles a Hessian in the sweep of the gradient at the same iterate
    /// (`Minimizer.gradient`); the same bits either way, so only tests turn it off.
    var fusesGradientAndAssembly = true

    /// The defaults.
    public init() {}

    /// Checks every field.
    /// - Throws: `SolverError.invalidOptions` naming the field (the words of `check()`).
    public func validate() throws(SolverError) {
        do { try check() } catch { throw .invalidOptions(error.description) }
    }

    /// Checks every field: the one place the solver's option rules live (the command line
    /// words the same errors with its option names).
    /// - Throws: `OptionsError` with the field and the offending value.
    public func check() throws(OptionsError) {
        guard tolerance.isFinite, tolerance >= 0 else { throw .tolerance(tolerance) }
        guard maxIterations >= 0 else { throw .maxIterations(maxIterations) }
        guard armijo > 0, armijo < 0.5 else { throw .armijo(armijo) }
        guard maxBacktracks >= 0 else { throw .maxBacktracks(maxBacktracks) }
        guard roundoffFactor.isFinite, roundoffFactor >= 0 else { throw .roundoffFactor(roundoffFactor) }
        try sketch.check()
        guard refinementSteps >= 0 else { throw .refinementSteps(refinementSteps) }
        guard pcgSampleFactor.isFinite, pcgSampleFactor > 0 else { throw .pcgSampleFactor(pcgSampleFactor) }
        if let r = reference, let j = r.firstIndex(where: { !$0.isFinite }) { throw .reference(index: j + 1, value: r[j]) }
    }
}

/// A solver or sketch option out of range, with the offending value.
public enum OptionsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `tolerance` not finite and >= 0.
    case tolerance(Double)
    /// `maxIterations` < 0.
    case maxIterations(Int)
    /// `armijo` outside (0, 0.5).
    case armijo(Double)
    /// `maxBacktracks` < 0.
    case maxBacktracks(Int)
    /// `roundoffFactor` not finite and >= 0.
    case roundoffFactor(Double)
    /// `refinementSteps` < 0.
    case refinementSteps(Int)
    /// A reference entry that is not finite (1-based).
    case reference(index: Int, value: Double)
    /// `sketch.epsilon` outside (0, 1).
    case epsilon(Double)
    /// `sketch.delta` outside (0, 1).
    case delta(Double)
    /// `sketch.sketchFactor` not finite and >= 1.
    case sketchFactor(Double)
    /// `sketch.embeddingNonzeros` < 1.
    case embeddingNonzeros(Int)
    /// `sketch.gaussianColumns` < 1.
    case gaussianColumns(Int)
    /// `sketch.reuseRatio` not finite and >= 1.
    case reuseRatio(Double)
    /// `sketch.safetyFactor` not finite and >= 1.
    case safetyFactor(Double)
    /// `pcgSampleFactor` not finite and > 0.
    case pcgSampleFactor(Double)

    public var description: String {
        switch self {
        case .tolerance(let v): return "tolerance must be finite and >= 0, got \(v)"
        case .maxIterations(let v): return "maxIterations must be >= 0, got \(v)"
        case .armijo(let v): return "armijo must be in (0, 0.5), got \(v)"
        case .maxBacktracks(let v): return "maxBacktracks must be >= 0, got \(v)"
        case .roundoffFactor: return "roundoffFactor must be finite and >= 0"
        case .refinementSteps(let v): return "refinementSteps must be >= 0, got \(v)"
        case .reference(let j, let v): return "reference[\(j)] = \(v) is not finite"
        case .epsilon(let v): return "sketch epsilon must be in (0, 1), got \(v)"
        case .delta(let v): return "sketch delta must be in (0, 1), got \(v)"
        case .sketchFactor(let v): return "sketchFactor must be >= 1, got \(v)"
        case .embeddingNonzeros: return "embeddingNonzeros must be >= 1"
        case .gaussianColumns(let v): return "gaussianColumns must be >= 1, got \(v)"
        case .reuseRatio(let v): return "reuseRatio must be >= 1, got \(v)"
        case .safetyFactor(let v): return "safetyFactor must be >= 1, got \(v)"
        case .pcgSampleFactor(let v): return "pcgSampleFactor must be finite and > 0, got \(v)"
        }
    }
}

/// Why the solver stopped.
public enum Termination: String, Sendable, Codable {
    /// The relative gradient norm reached the tolerance.
    case converged
    /// `maxIterations` iterations were used first.
    case iterationLimit = "iteration_limit"
    /// No step could make progress any more for a reason other than the round-off floor
    /// (every model refused, the line search found no decrease, a damped step among
    /// round-off); the best point is returned and the message says how far it got.
    case stalled
    /// The start point is already stationary (g(x0) = 0), e.g. x0 = 0 for cosh and sinh.
    case stationaryStart = "stationary_start"
    /// The problem has no minimiser along the iterates' direction (exp with w = 0 driving
    /// u(Ax) to 0); the message says so.
    case degenerate
    /// The per-iteration callback asked to stop.
    case stoppedByCallback = "stopped_by_callback"
    /// `paper` only: an assumption of the paper's Algorithm 1 fails (some `D_ii <= 0`, which
    /// Lemma 6.4 excludes); the message names the row and iteration. No x is produced.
    case assumptionViolated = "assumption_violated"
    /// `paper` only: a full step made u(Ax) overflow (no line search in Algorithm 1).
    case diverged
    /// The loss, the gradient or a Newton matrix is not finite (overflow) at the start point
    /// or at an iterate; `SolverResult.nonFiniteCause` names the input entry responsible and
    /// the message says how. No x is produced.
    case nonFinite = "non_finite"
    /// The round-off floor of the problem was reached before the tolerance: the predicted
    /// decrease of a Newton-type step is below the Double precision of L, and a full step no
    /// longer halves ||g||. x is as accurate as the arithmetic allows here: a success, like
    /// `converged` (`SolverResult.isSolutionUsable`); the message gives the gradient reached.
    case convergedAtRoundoff = "converged_at_roundoff"
}

/// Which matrix the Newton step of an iteration used.
public enum StepModel: String, Sendable, Codable {
    /// The true Hessian `A^T diag(delta) A + rank-2 part`.
    case exact
    /// The Gauss-Newton matrix `A^T diag(v o v + w o w) A + rank-2 part` (always PSD).
    case gaussNewton = "gauss_newton"
    /// The fall-back matrix (Gauss-Newton for `exact`, the sample for `sketch`) plus `mu I`
    /// (Levenberg-Marquardt damping), with the rank-2 part.
    case damped
    /// The leverage-score sample `A^T D~ A` plus the exact rank-2 part (`--hessian sketch`).
    case sketch
    /// The sample `A^T D~ A` alone (positive definite when the sample spans A's columns).
    case sketchDiagonal = "sketch_diagonal"
    /// The paper's Algorithm 1 matrix: the sample of `A^T (B_diag + W^2) A`, full step.
    case paper
    /// The exact Hessian by preconditioned conjugate gradients (`--hessian pcg`), truncated
    /// at the forcing tolerance or at negative curvature (`IterationRecord.cgStop`).
    case pcg
    /// Rank-deficient A: the exact Newton step restricted to range(A^T) (the minimum-norm
    /// Newton step, `V^T H V dy = -V^T g`, s = V dy; docs/solver.md "Rank-deficient A").
    case minimumNorm = "minimum_norm"
    /// The same with the Gauss-Newton matrix.
    case minimumNormGaussNewton = "minimum_norm_gauss_newton"
    /// The same with the Gauss-Newton matrix plus mu I (in range(A^T)).
    case minimumNormDamped = "minimum_norm_damped"
    /// cosh only: the exact reduced Hessian with its eigenvalues replaced by their absolute
    /// values (saddle-free Newton), tried when the exact one is indefinite in range(A^T), before
    /// Gauss-Newton (which ignores negative curvature and was drawn to saddle points of cosh's L).
    case minimumNormSaddleFree = "minimum_norm_saddle_free"
}

/// Why the conjugate gradients of a `pcg` step stopped.
public enum CGStop: String, Sendable, Codable {
    /// `||H s + g|| <= eta ||g||` (the Eisenstat-Walker forcing term eta).
    case converged
    /// A direction of non-positive curvature after at least one step: the last iterate kept
    /// (Steihaug).
    case negativeCurvature = "negative_curvature"
    /// Non-positive curvature along the first direction: the preconditioned steepest-descent
    /// direction `-P^{-1} g` is taken.
    case negativeCurvatureFirst = "negative_curvature_first"
    /// The iteration cap (`PreconditionedNewtonCG.maxIterations`) was reached.
    case iterationLimit = "iteration_limit"
    /// CG on the exact Hessian met negative curvature, so it was run again on the
    /// Gauss-Newton matrix (positive semidefinite; as `exact` falls back to Gauss-Newton) and
    /// that step is taken.
    case gaussNewton = "gauss_newton"
}

/// Seconds spent in each part of one iteration.
public struct IterationTimes: Sendable, Codable, Equatable {
    /// Streaming passes over A and vector passes.
    public var passes = 0.0
    /// Leverage scores (embedding pass, QR, projection pass) and drawing the sample.
    public var sketch = 0.0
    /// Assembling `A^T diag(.) A` (over all rows or over the sample).
    public var assembly = 0.0
    /// CHOLMOD numeric factorisations.
    public var factorization = 0.0
    /// Triangular solves and Woodbury.
    public var solve = 0.0
    /// Zero times.
    public init() {}
}

/// Why a step model was refused at an iteration, with the values involved.
public struct ModelRejection: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The reason, typed.
    public enum Reason: Sendable, Codable, Equatable {
        /// CHOLMOD found the matrix not positive definite at this pivot (1-based column).
        case notPositiveDefinite(pivot: Int)
        /// The matrix is positive definite but the rank-2 part makes the Newton matrix
        /// indefinite (Woodbury's det S >= 0).
        case indefiniteRankTwo
        /// Damping found no shift mu up to this value giving a descent direction.
        case noPositiveDefiniteShift(upTo: Double)
        /// The line search found no decrease in this many halvings.
        case noDecrease(halvings: Int)
        /// The step has a NaN or infinite entry.
        case nonFiniteStep
        /// `<g, s> >= 0`.
        case notDescent
        /// The Newton matrix restricted to range(A^T) is not positive definite: LAPACK's dense
        /// Cholesky (dpotrf) failed at this pivot (1-based, in the reduced basis).
        case notPositiveDefiniteInRange(pivot: Int)
        /// CHOLMOD factored the d x d matrix, but its condition estimate (`cholmod_rcond`) is at
        /// the round-off level and the rank check found A rank-deficient: the step is taken in
        /// range(A^T) instead.
        case rankDeficient(rcond: Double)
    }

    /// The model refused.
    public var model: StepModel
    /// Why.
    public var reason: Reason

    /// Creates a rejection.
    public init(_ model: StepModel, _ reason: Reason) {
        self.model = model
        self.reason = reason
    }

    /// The words of the trace's `rejectedModels` and of the report's `rejected_models`.
    public var description: String {
        switch reason {
        case .notPositiveDefinite(let pivot): return "\(model.rawValue): not positive definite (CHOLMOD pivot \(pivot))"
        case .indefiniteRankTwo: return "\(model.rawValue): indefinite (rank-2 part)"
        case .noPositiveDefiniteShift(let mu): return "\(model.rawValue): no positive definite shift up to \(fmt(mu))"
        case .noDecrease(let halvings): return "\(model.rawValue): line search found no decrease in \(halvings) halvings"
        case .nonFiniteStep: return "\(model.rawValue): non-finite step"
        case .notDescent: return "\(model.rawValue): not a descent direction"
        case .notPositiveDefiniteInRange(let pivot): return "\(model.rawValue): not positive definite in range(A^T) (LAPACK dpotrf pivot \(pivot))"
        case .rankDeficient(let rcond): return "\(model.rawValue): numerically singular (CHOLMOD rcond \(fmt(rcond))), A rank-deficient"
        }
    }
}

/// Whose distances the trace's `referenceDistance` holds.
public enum ReferenceSource: String, Sendable, Codable {
    /// `SolverOptions.reference`.
    case given
    /// The returned x of a converged run (no reference given).
    case finalIterate = "final_iterate"
}

/// One row of the per-iteration trace.
public struct IterationRecord: Sendable, Codable {
    /// Iteration number (0 = the start point).
    public var iteration: Int
    /// L(x_t).
    public var loss: Double
    /// ||g(x_t)||_2.
    public var gradientNorm: Double
    /// ||g(x_t)||_2 / ||g(x_0)||_2.
    public var relativeGradientNorm: Double
    /// The accepted step length t (0 at iteration 0).
    public var stepLength: Double
    /// ||x_t - x_{t-1}||_2.
    public var stepNorm: Double
    /// The matrix the step used (nil at iteration 0).
    public var model: StepModel?
    /// The damping mu when `model == .damped`, else 0.
    public var damping: Double
    /// Backtracking halvings in the accepted model.
    public var backtracks: Int
    /// Models tried and rejected before the accepted one (factorisation failed, not
    /// positive definite, or no descent), in words: `rejections` described.
    public var rejectedModels: [String]
    /// The same rejections, typed.
    public var rejections: [ModelRejection] = []
    /// Seconds since the solve started (input reading excluded).
    public var seconds: Double
    /// Rows kept by the leverage-score sample (nil for exact models).
    public var rowsKept: Int? = nil
    /// True when the sample re-used rescaled leverage scores of an earlier iteration.
    public var leverageReused: Bool? = nil
    /// Where this iteration's time went.
    public var times = IterationTimes()
    /// Refinement steps taken (sketch with `refinementSteps > 0`).
    public var refinements: Int? = nil
    /// `||H s + g|| / ||g||` (exact H) of the step after refinement (sketch with refinement).
    public var refinementResidual: Double? = nil
    /// `||x_t - x*||_2` for the reference x* (given, or the final iterate of a converged run).
    public var referenceDistance: Double? = nil
    /// `||x_t - x*|| / ||x_{t-1} - x*||`.
    public var contraction: Double? = nil
    /// `<g(x_{t-1}), s>`: the directional derivative of L along the accepted step's direction
    /// s at the previous iterate (x_t = x_{t-1} + t s), negative for a descent direction. The
    /// line search accepted t by `L(x_t) <= L(x_{t-1}) + armijo * t * slope` (or, in the
    /// round-off regime, by L not rising above round-off). Nil at iteration 0.
    public var slope: Double? = nil
    /// Conjugate-gradient iterations (Hessian-vector products) of a `pcg` iteration.
    public var cgIterations: Int? = nil
    /// Iterations since the `pcg` preconditioner was factored (0 = factored this iteration).
    public var preconditionerAge: Int? = nil
    /// Why the conjugate gradients stopped (`pcg`).
    public var cgStop: CGStop? = nil
    /// In a distributed run: this rank's seconds inside collectives during the iteration
    /// (including waits for slower ranks); nil on one process.
    public var communicationSeconds: Double? = nil
    /// In a distributed run: the bytes this rank sent in collectives during the iteration; nil
    /// on one process.
    public var communicationBytes: Int? = nil
}

/// Errors that stop the solver before it can return a result.
public enum SolverError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An option is out of range.
    case invalidOptions(String)
    /// The data does not form a valid problem.
    case invalidProblem(String)
    /// u(A x0) overflows: the start is unusable. No longer thrown by `NewtonSolver.solve`,
    /// which returns `Termination.nonFinite` with the entry responsible instead; kept so
    /// that callers matching it still compile.
    case overflowAtStart(String)
    /// A failure described in words only. No longer thrown by the solver, which throws
    /// `.cholmod` and `.lapack` with the error they came from; kept so that callers
    /// matching it still compile.
    case factorization(String)
    /// CHOLMOD failed in a way no fall-back can recover from (out of memory, too large, an
    /// invalid input): its error, and what the solver was doing.
    case cholmod(CholmodError, during: String)
    /// A dense LAPACK routine failed (the QR or triangular solve of the leverage-score
    /// sketch): its error, and what the solver was doing.
    case lapack(DenseLAPACKError, during: String)
    /// An input makes the arithmetic overflow before the solve can start (e.g. A^T A for the
    /// least-squares start): the entry responsible and the explanation.
    case nonFinite(NonFiniteCause, String)

    public var description: String {
        switch self {
        case .invalidOptions(let m): return "invalid options: \(m)"
        case .invalidProblem(let m): return "invalid problem: \(m)"
        case .overflowAtStart(let m): return "overflow at the start point: \(m)"
        case .factorization(let m): return "factorization failed: \(m)"
        case .cholmod(let e, let during): return "factorization failed: \(during): \(e)"
        case .lapack(let e, let during): return "LAPACK failed: \(during): \(e)"
        case .nonFinite(_, let m): return "overflow: \(m)"
        }
    }
}

extension SolverError {
    /// `error` as a solver error: a CHOLMOD or LAPACK error keeps its type (`.cholmod`,
    /// `.lapack`), a solver error stays as it is, anything else is described in words.
    static func wrapping(_ error: any Error, during: String) -> SolverError {
        switch error {
        case let e as SolverError: return e
        case let e as CholmodError: return .cholmod(e, during: during)
        case let e as DenseLAPACKError: return .lapack(e, during: during)
        default: return .factorization("\(during): \(error)")
        }
    }
}

/// Wall-clock seconds spent in each part of a solve (input reading excluded).
public struct SolveTimings: Sendable, Codable {
    /// The whole solve.
    public var total = 0.0
    /// Forward and transpose streaming passes and vector passes.
    public var passes = 0.0
    /// Assembling A^T diag(.) A.
    public var assembly = 0.0
    /// CHOLMOD symbolic analysis (once).
    public var analysis = 0.0
    /// CHOLMOD numeric factorisations.
    public var factorization = 0.0
    /// Triangular solves and Woodbury.
    public var solve = 0.0
    /// Leverage scores and sampling.
    public var sketch = 0.0
    /// One `A x` pass timed on its own after the solve (`NewtonSolver.passSeconds`; not part of
    /// `total`), the unit of `iteration_passes`; 0 when not measured.
    public var onePass = 0.0
}

/// What a solve returns.
public struct SolverResult: Sendable {
    /// Why it stopped.
    public var termination: Termination
    /// A sentence explaining the termination (what was reached, what to do).
    public var message: String
    /// The solution (never worse, in loss, than the start).
    public var x: [Double]
    /// L(x0).
    public var initialLoss: Double
    /// L(x), recomputed exactly from x.
    public var finalLoss: Double
    /// ||g(x0)||_2.
    public var initialGradientNorm: Double
    /// ||g(x)||_2, recomputed exactly from x.
    public var finalGradientNorm: Double
    /// Newton iterations performed.
    public var iterations: Int
    /// One record per iteration, starting with iteration 0.
    public var trace: [IterationRecord]
    /// Where the time went.
    public var timings: SolveTimings
    /// Streaming passes over A.
    public var passes: PassCounter
    /// Warnings about the solution (degenerate minimisers and the like), in words.
    public var warnings: [String]
    /// Entries of the upper triangle of A^T A's pattern (the Hessian CHOLMOD factors).
    public var hessianPatternEntries: Int
    /// Whether CHOLMOD chose a supernodal factorisation.
    public var supernodal: Bool
    /// The strategy used (`automatic` resolved to exact or sketch).
    public var strategy: HessianStrategy = .exact
    /// Why that strategy (the cost model's prediction for `automatic`).
    public var strategyReason = ""
    /// Leverage-score estimates computed (two passes over A each) and re-used.
    public var leverageEstimates = 0, leverageReuses = 0
    /// "given" when distances in the trace are to `SolverOptions.reference`,
    /// "final_iterate" when to the returned x of a converged run, nil when not recorded:
    /// `reference` as its raw value.
    public var referenceSource: String? { reference?.rawValue }
    /// Whose distances the trace holds, typed (nil when not recorded).
    public var reference: ReferenceSource? = nil
    /// Theorem F.1's iteration count `T = ln(r_0 / r_T)` for the distances recorded (r_T the
    /// last distance; nil without distances or when r_T = 0).
    public var predictedIterations: Double? = nil
    /// For `nonFinite`: the input entry found responsible (nil otherwise), so that a caller
    /// can name the file it came from.
    public var nonFiniteCause: NonFiniteCause? = nil
    /// The numerical rank of A when the solver established it (the rank check of a
    /// rank-deficient A, or d when a d x d Newton matrix A^T D A factored as positive definite),
    /// else nil.
    public var numericalRank: Int? = nil
    /// True when A was found rank-deficient (n < d, or numerical rank < d): x is then the
    /// minimum-norm minimiser (docs/solver.md, "Rank-deficient A").
    public var rankDeficient = false

    /// ||g(x)|| / ||g(x0)||.
    public var relativeGradientNorm: Double {
        initialGradientNorm > 0 ? finalGradientNorm / initialGradientNorm : 0
    }
    /// `||u(Ax)/alpha - b||_1` at the returned x, `alpha = <u(Ax), 1>`: the L1 distance of the
    /// normalised model (softmax(Ax) for exp) to b, twice the total-variation distance when
    /// both are probability vectors. nil when alpha is 0 or a value is not finite.
    public var fitL1: Double? = nil

    /// True when x can be used as an answer: x, L(x) and ||g(x)|| finite, and the run ended
    /// `converged`, `converged_at_roundoff`, `stalled`, `iteration_limit` or
    /// `stopped_by_callback` (x is then never worse than x0 in loss, except for `paper`).
    /// False for `degenerate`, `stationary_start`, `assumption_violated`, `diverged` and
    /// `non_finite`. The CLI writes x, exits 0 and reports `success: true` exactly then.
    public var isSolutionUsable: Bool {
        finalLoss.isFinite && finalGradientNorm.isFinite && x.allSatisfy(\.isFinite)
            && ![.degenerate, .stationaryStart, .assumptionViolated, .diverged, .nonFinite].contains(termination)
    }
}

/// Newton's method with globalisation for a `Problem`: exact, leverage-score sketched, or
/// the paper's Algorithm 1, by `SolverOptions.hessian` (docs/solver.md).
public struct NewtonSolver {
    /// Settings.
    public var options: SolverOptions

    /// A solver with the given options.
    public init(options: SolverOptions = SolverOptions()) { self.options = options }

    /// Solves from `x0`.
    ///
    /// Each iteration: one transpose pass (g, p, q together), the Hessian model (exact: one
    /// assembly of A^T diag(delta) A; sketch/paper: leverage scores, two passes unless re-used,
    /// and an assembly over the sampled rows only), a CHOLMOD numeric factorisation, one
    /// forward pass A s; trial points of the line search cost vector work only.
    ///
    /// - Throws: `SolverError` for bad options, a start that overflows, or an
    ///   unrecoverable CHOLMOD or LAPACK failure.
    public func solve(_ problem: Problem, from x0: [Double]) throws(SolverError) -> SolverResult {
        try options.validate()
        guard x0.count == problem.columnCount else {
            throw .invalidProblem("x0 has \(x0.count) entries but A has \(problem.columnCount) columns")
        }
        if let j = x0.firstIndex(where: { !$0.isFinite }) { throw .invalidProblem("x0[\(j + 1)] = \(x0[j]) is not finite") }
        if let r = options.reference, r.count != problem.columnCount {
            throw .invalidProblem("the reference solution has \(r.count) entries but A has \(problem.columnCount) columns")
        }
        return try Minimizer(options: options, problem: problem).minimize(from: x0)
    }
}

extension NewtonSolver {
    /// The wall time of one `A x` pass at `x`: the best of three into one output vector, zeroed
    /// first so that the page faults of a fresh vector (which the solver's passes, writing into
    /// re-used vectors, do not pay) do not inflate it; three because, timed right after a
    /// solve, one pass in about ten measured 1.7x the others (two passes left that in); the unit of pass-equivalents
    /// (`iteration_passes`, docs/performance.md). Timed apart from any solve: it is
    /// instrumentation, two passes the solution does not need (at n = 1e6, d = 200 about 6 %
    /// of an exact solve), so the report's `seconds` leave it out. In a distributed run, this
    /// rank's block (no collective).
    public static func passSeconds(of problem: Problem, at x: [Double]) -> Double {
        let clock = ContinuousClock()
        var best = Double.infinity
        var z = [Double](repeating: 0, count: problem.rowCount)
        for _ in 0..<3 {
            let t0 = clock.now
            problem.matrix.multiply(x, into: &z)
            best = min(best, seconds(clock.now - t0))
        }
        return best
    }
}

/// The words for a stationary start point.
func stationaryStartMessage(_ problem: Problem, _ x0: [Double]) -> String {
    let isZero = x0.allSatisfy { $0 == 0 }
    switch (problem.function, isZero) {
    case (.cosh, true):
        return "x0 = 0 is a stationary point for cosh (u'(0) = sinh(0) = 0, so the gradient vanishes): Newton cannot move. Start elsewhere (the default start, or --x0)."
    case (.sinh, true):
        return "x0 = 0 is the trivial global minimiser of sinh (u(0) = 0 gives L(0) = 0 for every A, b, w): it is a stationary point, not a useful answer. Start elsewhere (the default start, or --x0)."
    default:
        return "the gradient at x0 is exactly zero: x0 is a stationary point."
    }
}

/// Warnings about degenerate solutions (docs/math.md, "Degenerate cases").
func degenerateWarnings(_ problem: Problem, _ x: [Double], _ e: Evaluation) -> [String] {
    var out: [String] = []
    if problem.function == .sinh, e.maxAbsZ < 1e-6 {
        out.append("the solution is (numerically) x = 0 with A x ~ 0, the trivial minimiser of sinh; it carries no information about b")
    }
    return out
}

