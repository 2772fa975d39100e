// The Newton driver: CHOLMOD factor of A^T diag(delta) A (exact, issue 2) or of a
// leverage-score sample of it (sketch and the paper's Algorithm 1, issue 3), Woodbury for
// the rank-2 part, Armijo backtracking on z(t) = z + t A s (no pass over A per trial),
// fall-backs (Gauss-Newton or the sample alone, then damping), and an honest stopping rule.

#if canImport(Glibc)
import Glibc
#endif
import Cholmod
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
    /// A reference solution x*: the trace then records `||x_t - x*||_2` and the contraction.
    /// Without it, a converged run measures distances to its own final iterate. Default nil.
    public var reference: [Double]? = nil
    /// Time an `A x` pass at the start (best of two extra passes) so that iteration times can
    /// be given in passes. Default true.
    public var measurePass = true

    /// The defaults.
    public init() {}

    /// Checks every field.
    /// - Throws: `SolverError.invalidOptions` naming the field.
    public func validate() throws(SolverError) {
        guard tolerance.isFinite, tolerance >= 0 else { throw .invalidOptions("tolerance must be finite and >= 0, got \(tolerance)") }
        guard maxIterations >= 0 else { throw .invalidOptions("maxIterations must be >= 0, got \(maxIterations)") }
        guard armijo > 0, armijo < 0.5 else { throw .invalidOptions("armijo must be in (0, 0.5), got \(armijo)") }
        guard maxBacktracks >= 0 else { throw .invalidOptions("maxBacktracks must be >= 0, got \(maxBacktracks)") }
        guard roundoffFactor.isFinite, roundoffFactor >= 0 else { throw .invalidOptions("roundoffFactor must be finite and >= 0") }
        try sketch.validate()
        guard refinementSteps >= 0 else { throw .invalidOptions("refinementSteps must be >= 0, got \(refinementSteps)") }
        if let r = reference, let j = r.firstIndex(where: { !$0.isFinite }) { throw .invalidOptions("reference[\(j + 1)] = \(r[j]) is not finite") }
    }
}

/// Why the solver stopped.
public enum Termination: String, Sendable, Codable {
    /// The relative gradient norm reached the tolerance.
    case converged
    /// `maxIterations` iterations were used first.
    case iterationLimit = "iteration_limit"
    /// No step could make progress any more (round-off floor or failed line search); the
    /// best point is returned and the message says how far it got.
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
    /// positive definite, or no descent).
    public var rejectedModels: [String]
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
    /// CHOLMOD failed in a way no fall-back can recover from (out of memory, too large).
    case factorization(String)
    /// An input makes the arithmetic overflow before the solve can start (e.g. A^T A for the
    /// least-squares start): the entry responsible and the explanation.
    case nonFinite(NonFiniteCause, String)

    public var description: String {
        switch self {
        case .invalidOptions(let m): return "invalid options: \(m)"
        case .invalidProblem(let m): return "invalid problem: \(m)"
        case .overflowAtStart(let m): return "overflow at the start point: \(m)"
        case .factorization(let m): return "factorization failed: \(m)"
        case .nonFinite(_, let m): return "overflow: \(m)"
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
    /// One `A x` pass timed on its own at the start (0 when not measured).
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
    /// "final_iterate" when to the returned x of a converged run, nil when not recorded.
    public var referenceSource: String? = nil
    /// Theorem F.1's iteration count `T = ln(r_0 / r_T)` for the distances recorded (r_T the
    /// last distance; nil without distances or when r_T = 0).
    public var predictedIterations: Double? = nil
    /// For `nonFinite`: the input entry found responsible (nil otherwise), so that a caller
    /// can name the file it came from.
    public var nonFiniteCause: NonFiniteCause? = nil

    /// ||g(x)|| / ||g(x0)||.
    public var relativeGradientNorm: Double {
        initialGradientNorm > 0 ? finalGradientNorm / initialGradientNorm : 0
    }
    /// True when x can be used as an answer (finite; converged or at least improved).
    public var isSolutionUsable: Bool {
        finalLoss.isFinite && finalGradientNorm.isFinite && x.allSatisfy(\.isFinite)
            && ![.degenerate, .stationaryStart, .assumptionViolated, .diverged, .nonFinite].contains(termination)
    }
}

/// Newton's method with globalisation for a `Problem`: exact (issue 2), leverage-score
/// sketched, or the paper's Algorithm 1 (issue 3), by `SolverOptions.hessian`.
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
        let clock = ContinuousClock()
        let started = clock.now
        var timings = SolveTimings()
        var passes = PassCounter()
        let objective = Objective(problem: problem)
        let a = problem.matrix
        let bb = problem.targetSquaredNorm
        func elapsed() -> Double { seconds(clock.now - started) }
        func timed<T>(_ body: () -> T) -> T {
            let t0 = clock.now
            let r = body()
            timings.passes += seconds(clock.now - t0)
            return r
        }

        // The strategy.
        var strategy = options.hessian
        var strategyReason = "requested"
        if strategy == .automatic {
            (strategy, strategyReason) = options.costModel.choose(matrix: a, sketch: options.sketch)
        }
        let sampler = LeverageSampler(matrix: a, options: options.sketch)
        if strategy == .sketch || strategy == .paper, sampler.sketchBytes > (1 << 33) {
            throw .invalidOptions("--hessian \(strategy.rawValue) needs a dense \(sampler.embeddingRows) x \(a.columnCount) sketch (\(sampler.sketchBytes >> 20) MB); use --hessian exact for d = \(a.columnCount)")
        }
        // The paper's iteration budget T and per-sample failure probability delta / T.
        let paperT = max(1, Int((Glibc.log(1 / max(options.tolerance, 1e-300)) / Glibc.log(2.5)).rounded(.up)))
        let maxIterations = strategy == .paper ? min(options.maxIterations, paperT) : options.maxIterations
        let beta = strategy == .paper
            ? options.sketch.oversampling(dimension: a.columnCount, delta: options.sketch.delta / Double(paperT))
            : options.sketch.oversampling(dimension: a.columnCount)

        if options.measurePass {
            // Best of two, so that a cold first touch of A does not inflate the unit.
            var best = Double.infinity
            for _ in 0..<2 {
                let t0 = clock.now
                _ = a.multiply(x0)
                best = min(best, seconds(clock.now - t0))
            }
            timings.onePass = best
            passes.forward += 2
        }

        var x = x0
        var e = timed { objective.evaluate(x) }
        passes.forward += 1
        var pieces = timed { objective.gradientPieces(e) }
        passes.transpose += 1
        var gNorm = norm2(pieces.gradient)
        let g0 = gNorm
        let loss0 = e.loss
        var trace = [IterationRecord(iteration: 0, loss: e.loss, gradientNorm: gNorm, relativeGradientNorm: 1,
                                     stepLength: 0, stepNorm: 0, model: nil, damping: 0, backtracks: 0,
                                     rejectedModels: [], seconds: elapsed())]
        if let r = options.reference { trace[0].referenceDistance = norm2(zip(x0, r).map { $0 - $1 }) }
        // Iterates, kept (up to a memory bound) to measure distances to the final x afterwards.
        var iterates: [[Double]] = [x0]
        let keepIterates = options.reference == nil && problem.columnCount * (maxIterations + 1) <= 50_000_000
        var warnings: [String] = []
        var leverageEstimates = 0, leverageReuses = 0
        var system: HessianSystem? = nil

        func result(_ t: Termination, _ message: String, cause: NonFiniteCause? = nil) -> SolverResult {
            // Report the loss and gradient recomputed exactly from x (z was updated incrementally).
            var fx = x, fe = e, fg = gNorm
            if trace.count > 1 {
                fe = timed { objective.evaluate(x) }
                fg = norm2(timed { objective.gradient(fe) })
                passes.forward += 1
                passes.transpose += 1
            }
            if t != .nonFinite && !(fe.loss <= loss0) && strategy != .paper {  // never worse than the start
                fx = x0; fe = timed { objective.evaluate(x0) }; fg = g0
                warnings.append("the final point was not better than x0, so x0 is returned")
            }
            if let s = system {
                timings.assembly = s.assembleSeconds
                timings.factorization = s.factorSeconds
                timings.solve = s.solveSeconds
                passes.assembly = s.assemblyCount
                passes.sampledAssembly = s.sampledAssemblyCount
                passes.denseBlockAssembly = s.denseBlockAssemblyCount
            }
            timings.total = elapsed()
            warnings += degenerateWarnings(problem, fx, fe)
            if problem.function == .exp, problem.hasZeroWeights, t == .converged || t == .stalled || t == .iterationLimit,
               let residual = onesResidual(problem.matrix), residual < 1e-3 {
                warnings.append("exp with w = 0 and the all-ones vector (nearly) in range(A) (least-squares residual \(fmt(residual)) per row): with A y = 1, L(x + t y) = e^{2t} L(x), so L has no minimiser unless it reaches 0, and then a whole line of them; this x is one point of that line (sum of u = \(fmt(fe.alpha))). Use a positive weight w for a unique answer.")
            }
            var text = message
            if trace.count > 1 { text += " (recomputed from the returned x: relative gradient norm \(fmt(fg / g0)))" }
            // Distances to the final iterate of a converged run, when no reference was given.
            var source: String? = options.reference == nil ? nil : "given"
            if options.reference == nil, t == .converged, keepIterates, iterates.count == trace.count, trace.count > 1 {
                source = "final_iterate"
                for k in trace.indices { trace[k].referenceDistance = norm2(zip(iterates[k], fx).map { $0 - $1 }) }
            }
            var predicted: Double? = nil
            if source != nil {
                for k in trace.indices.dropFirst() {
                    if let r = trace[k].referenceDistance, let q = trace[k - 1].referenceDistance, q > 0 { trace[k].contraction = r / q }
                }
                let distances = trace.compactMap(\.referenceDistance).filter { $0 > 0 }
                if let r0 = distances.first, let rT = distances.last, rT < r0 { predicted = Glibc.log(r0 / rT) }
            }
            return SolverResult(termination: t, message: text, x: fx, initialLoss: loss0, finalLoss: fe.loss,
                                initialGradientNorm: g0, finalGradientNorm: fg, iterations: trace.count - 1,
                                trace: trace, timings: timings, passes: passes, warnings: warnings,
                                hessianPatternEntries: system?.pattern.entryCount ?? 0,
                                supernodal: system?.factor.isSupernodal ?? false,
                                strategy: strategy, strategyReason: strategyReason,
                                leverageEstimates: leverageEstimates, leverageReuses: leverageReuses,
                                referenceSource: source, predictedIterations: predicted, nonFiniteCause: cause)
        }
        /// The `nonFinite` result for a diagnosis (cause, words) made at `place`.
        func nonFinite(_ place: String, _ diagnosis: (cause: NonFiniteCause, words: String)) -> SolverResult {
            result(.nonFinite, "\(place): \(diagnosis.words)", cause: diagnosis.cause)
        }
        /// Where the current point is, for messages: the start point or an iterate.
        func place() -> String { trace.count == 1 ? "overflow at the start point" : "overflow at the iterate of iteration \(trace.count - 1)" }

        // No NaN may pass a test below (a NaN or infinite ||g(x0)|| made "converged" out of
        // -nan <= tolerance): the loss, the gradient and the rank-2 pieces must be finite.
        if !e.isFinite {
            return nonFinite(place(), NonFiniteDiagnosis.evaluation(problem, x0, e, atStart: true))
        }
        if !(gNorm.isFinite && norm2(pieces.p).isFinite && norm2(pieces.q).isFinite) {
            return nonFinite(place(), NonFiniteDiagnosis.gradient(problem, x0, e, objective, pieces, atStart: true))
        }

        if let callback = options.onIteration, !callback(trace[0]) {
            return result(.stoppedByCallback, "stopped by the iteration callback at the start point")
        }
        if g0 == 0 {
            return result(.stationaryStart, stationaryStartMessage(problem, x0))
        }
        if options.tolerance >= 1 || gNorm <= options.tolerance * g0 && maxIterations == 0 {
            return result(.converged, "the start point already satisfies the tolerance")
        }

        // Symbolic analysis once.
        let analysisStart = clock.now
        let sys: HessianSystem
        do {
            let context = try CholmodContext()
            sys = try HessianSystem(matrix: a, context: context, costModel: options.costModel)
        } catch {
            throw .factorization("could not set up CHOLMOD for A^T A (d = \(problem.columnCount)): \(error)")
        }
        system = sys
        timings.analysis = seconds(clock.now - analysisStart)
        let alpha0 = e.alpha
        var damping = 0.0
        var scores: LeverageScores? = nil

        func snapshot() -> IterationTimes {
            var t = IterationTimes()
            t.passes = timings.passes; t.sketch = timings.sketch
            t.assembly = sys.assembleSeconds; t.factorization = sys.factorSeconds; t.solve = sys.solveSeconds
            return t
        }
        /// A leverage-score sample of A^T diag(d) A: (values, rows kept, re-used?).
        func sampled(_ d: [Double], iteration: Int) throws(SolverError) -> ([Double], Int, Bool) {
            let t0 = clock.now
            var reused = false
            if let old = scores, let re = sampler.rescale(old, to: d) {
                scores = re; reused = true; leverageReuses += 1
            } else {
                scores = try sampler.estimate(diagonal: d, salt: UInt64(iteration))
                leverageEstimates += 1
                passes.leverage += 2
            }
            let pick = sampler.sample(scores!, beta: beta, salt: UInt64(iteration))
            timings.sketch += seconds(clock.now - t0)
            return (sys.assemble(weights: pick.weights, rows: pick.rows), pick.rows.count, reused)
        }

        /// Preconditioned iterative refinement of the sketched step towards the exact Newton
        /// step (`diagonal` = delta): s <- s + P^{-1}(-g - H s) with P the factored sample plus
        /// the rank-2 part; two passes over A per step (H s). Stops early when the residual
        /// stops shrinking (H indefinite far from x*, or P too far from H). Returns the step,
        /// the steps taken and ||H s + g|| / ||g||.
        func refine(_ s0: [Double], g: [Double], diagonal: [Double]) throws(SolverError) -> ([Double], Int, Double) {
            var s = s0
            let gn = norm2(g)
            func residual(_ s: [Double]) -> [Double] {
                let hs = timed { objective.hessianVectorProduct(e, pieces: pieces, delta: diagonal, s) }
                passes.forward += 1; passes.transpose += 1
                return zip(hs, g).map { -($0 + $1) }
            }
            var r = residual(s)
            var rn = norm2(r)
            var taken = 0
            for _ in 0..<options.refinementSteps {
                let corr: RankTwoSolve
                do { corr = try sys.solve(r, p: pieces.p, q: pieces.q, targetSquaredNorm: bb) } catch {
                    throw .factorization(String(describing: error))
                }
                let trial = zip(s, corr.solution).map { $0 + $1 }
                guard trial.allSatisfy(\.isFinite) else { break }
                let rt = residual(trial)
                let rtn = norm2(rt)
                guard rtn < rn else { break }
                s = trial; r = rt; rn = rtn; taken += 1
            }
            return (s, taken, gn > 0 ? rn / gn : 0)
        }

        var iteration = 0
        while true {
            if gNorm.isFinite, gNorm <= options.tolerance * g0 {
                // exp with w = 0: the gradient scales like u^2, so shrinking u satisfies a
                // relative tolerance of 1e-10 once u has fallen ~1e5-fold, long before the
                // 1e-8 alpha test below. A real solution fits b after normalisation
                // (L / alpha^2 = 0.5 ||u/alpha - b||^2 small); a collapse of u does not.
                if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, e.alpha < 1e-3 * alpha0,
                   (2 * e.loss).squareRoot() > 1e-6 * e.alpha * bb.squareRoot() {
                    return result(.degenerate, "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(e.alpha)) while u / sum(u) does not fit b), so L tends to 0 without a minimiser; the small gradient is not convergence. Use a positive weight w.")
                }
                return result(.converged, "relative gradient norm \(fmt(gNorm / g0)) <= tolerance \(fmt(options.tolerance)) at iteration \(iteration)")
            }
            if iteration >= maxIterations {
                let why = strategy == .paper && maxIterations == paperT && paperT < options.maxIterations
                    ? "the paper's T = ceil(ln(1/tolerance)/ln 2.5) = \(paperT) iterations" : "\(iteration) iterations"
                return result(.iterationLimit, "stopped after \(why) at relative gradient norm \(fmt(gNorm / g0)) (tolerance \(fmt(options.tolerance)))")
            }
            iteration += 1
            let before = snapshot()
            let g = pieces.gradient
            var rejected: [String] = []
            var accepted: (x: [Double], e: Evaluation, t: Double, model: StepModel, backtracks: Int, mu: Double, roundoff: Bool)? = nil
            var rowsKept: Int? = nil
            var reusedScores: Bool? = nil
            var refinements: Int? = nil
            var refinementResidual: Double? = nil

            if strategy == .paper {
                // Algorithm 1 as printed: D = B_diag + W^2 must be positive; full step.
                let d = objective.hessianWeights(e)
                if !d.allSatisfy(\.isFinite) {
                    return nonFinite(place(), NonFiniteDiagnosis.hessian(problem, x, e, diagonal: d, atStart: trace.count == 1))
                }
                let bad = d.indices.filter { !(d[$0] > 0) }
                if let first = bad.first {
                    return result(.assumptionViolated, "the paper's Algorithm 1 needs D = B_diag(x) + diag(w o w) > 0 (Lemma 6.4 samples D^{1/2} A), but at iteration \(iteration) D_ii <= 0 in \(bad.count) of \(d.count) rows (first: row \(first + 1), D = \(fmt(d[first]))). Use --hessian sketch or exact, or larger weights (Theorem F.1 assumes w_i^2 >= 100 + l / sigma_min(A)^2).")
                }
                let sample: ([Double], Int, Bool)
                do { sample = try sampled(d, iteration: iteration) } catch .nonFinite {
                    return nonFinite(place(), NonFiniteDiagnosis.hessian(problem, x, e, diagonal: d, atStart: trace.count == 1))
                } catch { throw error }
                let (k, kept, reused) = sample
                if !k.allSatisfy(\.isFinite) {
                    return nonFinite(place(), NonFiniteDiagnosis.hessian(problem, x, e, diagonal: d, atStart: trace.count == 1))
                }
                rowsKept = kept; reusedScores = reused
                let s: [Double]
                do {
                    try sys.factorize(values: k, shift: 0)
                    s = try sys.solvePlain(g.map { -$0 })
                } catch .notPositiveDefinite(let column) {
                    return result(.stalled, "the sampled Hessian A^T D~ A (\(kept) rows kept) is not positive definite (CHOLMOD pivot \(column)) at iteration \(iteration): the sample does not span A's columns")
                } catch {
                    throw .factorization(String(describing: error))
                }
                // A NaN step would otherwise surface as "diverged" (u overflows) below.
                guard s.allSatisfy(\.isFinite) else {
                    return nonFinite(place(), (.arithmetic("the paper step solved from the sampled Hessian"), "the step of iteration \(iteration) solved from the sampled Hessian (\(kept) rows kept) is not finite. Use --hessian sketch or exact."))
                }
                let As = timed { a.multiply(s) }
                passes.forward += 1
                let zt = zip(e.z, As).map { $0 + $1 }
                let et = timed { objective.evaluate(z: zt) }
                guard et.isFinite else {
                    return result(.diverged, "the full step of iteration \(iteration) makes u(Ax) overflow (|(Ax)_i| up to \(fmt(et.maxAbsZ))); Algorithm 1 has no line search. Use --hessian sketch or exact, or a start closer to the solution.")
                }
                accepted = (zip(x, s).map { $0 + $1 }, et, 1, .paper, 0, 0, false)
            } else {
                let models: [StepModel] = strategy == .exact ? [.exact, .gaussNewton, .damped] : [.sketch, .sketchDiagonal, .damped]
                var fallbackMatrix: [Double]? = nil  // assembled once, shared by the fall-backs
                modelLoop: for model in models {
                    // 1. Factor K (+ mu I for damping), solve the Newton system.
                    let k: [Double]
                    var weights: [Double]? = nil  // the diagonal of a fresh assembly, checked below
                    switch model {
                    case .exact:
                        weights = objective.hessianWeights(e)
                        k = sys.assemble(weights: weights!)
                    case .sketch:
                        let d = objective.sketchWeights(e)
                        weights = d
                        let sample: ([Double], Int, Bool)
                        do { sample = try sampled(d, iteration: iteration) } catch .nonFinite {
                            return nonFinite(place(), NonFiniteDiagnosis.hessian(problem, x, e, diagonal: d, atStart: trace.count == 1))
                        } catch { throw error }
                        let (values, kept, reused) = sample
                        k = values; rowsKept = kept; reusedScores = reused
                        fallbackMatrix = values
                    default:
                        if let cached = fallbackMatrix { k = cached } else {
                            weights = objective.gaussNewtonWeights(e)
                            k = sys.assemble(weights: weights!)
                            fallbackMatrix = k
                        }
                    }
                    // An overflowing Newton matrix (an entry of A beyond 1e154, or a weight
                    // D_i beyond Double) is not a failed model to fall back from: say why.
                    if let d = weights, !(d.allSatisfy(\.isFinite) && k.allSatisfy(\.isFinite)) {
                        return nonFinite(place(), NonFiniteDiagnosis.hessian(problem, x, e, diagonal: d, atStart: trace.count == 1))
                    }
                    var mu = 0.0
                    var step: [Double]? = nil
                    if model != .damped {
                        do {
                            try sys.factorize(values: k, shift: 0)
                            if model == .sketchDiagonal {
                                step = try sys.solvePlain(g.map { -$0 })
                            } else {
                                let sol = try sys.solve(g.map { -$0 }, p: pieces.p, q: pieces.q, targetSquaredNorm: bb)
                                if !sol.isPositiveDefinite { rejected.append("\(model.rawValue): indefinite (rank-2 part)"); continue modelLoop }
                                step = sol.solution
                            }
                        } catch .notPositiveDefinite(let column) {
                            rejected.append("\(model.rawValue): not positive definite (CHOLMOD pivot \(column))")
                            continue modelLoop
                        } catch {
                            throw .factorization(String(describing: error))
                        }
                        if model == .sketch, options.refinementSteps > 0, let s0 = step {
                            (step, refinements, refinementResidual) = try refine(s0, g: g, diagonal: objective.hessianWeights(e))
                        }
                    } else {
                        let scale = max(sys.meanDiagonal(k), Double.leastNormalMagnitude)
                        mu = max(damping / 10, 1e-8 * scale)
                        var tries = 0
                        while step == nil && tries < 30 {
                            tries += 1
                            do {
                                try sys.factorize(values: k, shift: mu)
                                let sol = try sys.solve(g.map { -$0 }, p: pieces.p, q: pieces.q, targetSquaredNorm: bb)
                                if sol.isPositiveDefinite && dot(g, sol.solution) < 0 { step = sol.solution } else { mu *= 10 }
                            } catch .notPositiveDefinite {
                                mu *= 10
                            } catch {
                                throw .factorization(String(describing: error))
                            }
                        }
                        guard step != nil else { rejected.append("damped: no positive definite shift up to \(fmt(mu))"); break modelLoop }
                        damping = mu
                    }
                    guard let s = step, s.allSatisfy(\.isFinite) else { rejected.append("\(model.rawValue): non-finite step"); continue modelLoop }
                    let slope = dot(g, s)
                    guard slope < 0 else { rejected.append("\(model.rawValue): not a descent direction"); continue modelLoop }

                    // 2. Line search along z(t) = z + t A s.
                    let As = timed { a.multiply(s) }
                    passes.forward += 1
                    let noise = options.roundoffFactor * Double.ulpOfOne * max(1, Swift.abs(e.loss))
                    // In the round-off regime a decrease of L is noise: a step accepted there
                    // (by either test) must also halve ||g||, checked below, or the run stalls
                    // (without this, Armijo "decreases" of round-off size kept accepting full
                    // steps at a gradient floor until the iteration limit: measured at 4e6 rows).
                    let inRoundoff = -slope <= noise
                    var t = 1.0
                    for backtrack in 0...options.maxBacktracks {
                        let zt = zip(e.z, As).map { $0 + t * $1 }
                        let et = timed { objective.evaluate(z: zt) }
                        if et.isFinite {
                            if et.loss <= e.loss + options.armijo * t * slope {
                                accepted = (zip(x, s).map { $0 + t * $1 }, et, t, model, backtrack, mu, inRoundoff)
                                break modelLoop
                            }
                            if t == 1, -slope <= noise, et.loss <= e.loss + noise {
                                accepted = (zip(x, s).map { $0 + $1 }, et, 1, model, 0, mu, true)
                                break modelLoop
                            }
                        }
                        t *= 0.5
                    }
                    rejected.append("\(model.rawValue): line search found no decrease in \(options.maxBacktracks) halvings")
                }
            }

            guard let step = accepted else {
                let names = strategy == .exact ? "exact, Gauss-Newton, damped" : "sketch, sketch without rank-2 part, damped"
                return result(.stalled, "no model (\(names)) gave an acceptable step at iteration \(iteration): \(rejected.joined(separator: "; ")); relative gradient norm \(fmt(gNorm / g0))")
            }
            let newPieces = timed { objective.gradientPieces(step.e) }
            passes.transpose += 1
            let newNorm = norm2(newPieces.gradient)
            if !(newNorm.isFinite && norm2(newPieces.p).isFinite && norm2(newPieces.q).isFinite) {
                return nonFinite("overflow at the iterate of iteration \(iteration)",
                                 NonFiniteDiagnosis.gradient(problem, step.x, step.e, objective, newPieces, atStart: false))
            }
            if step.roundoff && !(newNorm <= 0.5 * gNorm) {
                return result(.stalled, "reached the round-off floor: the predicted decrease is below Double precision of L = \(fmt(e.loss)) and a full step no longer halves the gradient norm; relative gradient norm \(fmt(gNorm / g0)) (tolerance \(fmt(options.tolerance)) is below what the arithmetic allows here)")
            }
            let stepNorm = norm2(zip(step.x, x).map { $0 - $1 })
            x = step.x
            e = step.e
            pieces = newPieces
            gNorm = newNorm
            if step.model != .damped { damping = 0 }
            let after = snapshot()
            var times = IterationTimes()
            times.passes = after.passes - before.passes
            times.sketch = after.sketch - before.sketch
            times.assembly = after.assembly - before.assembly
            times.factorization = after.factorization - before.factorization
            times.solve = after.solve - before.solve
            var record = IterationRecord(iteration: iteration, loss: e.loss, gradientNorm: gNorm, relativeGradientNorm: gNorm / g0,
                                         stepLength: step.t, stepNorm: stepNorm, model: step.model, damping: step.mu,
                                         backtracks: step.backtracks, rejectedModels: rejected, seconds: elapsed())
            record.rowsKept = rowsKept
            record.leverageReused = reusedScores
            if step.model == .sketch {
                record.refinements = refinements
                record.refinementResidual = refinementResidual
            }
            record.times = times
            if let r = options.reference {
                record.referenceDistance = norm2(zip(x, r).map { $0 - $1 })
                if let previous = trace.last?.referenceDistance, previous > 0 { record.contraction = record.referenceDistance! / previous }
            }
            trace.append(record)
            if keepIterates { iterates.append(x) }
            if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, e.alpha < 1e-8 * alpha0 {
                return result(.degenerate, "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(e.alpha))), so L tends to 0 without a minimiser. Use a positive weight w.")
            }
            if let callback = options.onIteration, !callback(record) {
                return result(.stoppedByCallback, "stopped by the iteration callback after \(iteration) iterations")
            }
        }
    }
}

/// The root-mean-square residual of the least-squares fit of the all-ones vector on A
/// (`min_y ||A y - 1||_2 / sqrt(n)`), or nil if it cannot be computed: near 0 when 1 is in
/// range(A), which makes exp with w = 0 degenerate (docs/math.md). One assembly of A^T A,
/// one factorisation, two passes.
func onesResidual(_ a: CSRMatrix) -> Double? {
    guard let ls = try? LeastSquares(matrix: a) else { return nil }
    let ones = [Double](repeating: 1, count: a.rowCount)
    guard let y = try? ls.solve(target: ones, intercept: false) else { return nil }
    let r = a.multiply(y)
    var s = 0.0
    for i in 0..<r.count { s += (r[i] - 1) * (r[i] - 1) }
    return (s / Double(max(1, a.rowCount))).squareRoot()
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

/// Compact number formatting for messages.
func fmt(_ v: Double) -> String {
    if v == 0 || !v.isFinite { return "\(v)" }
    let a = Swift.abs(v)
    if a >= 1e-3 && a < 1e6 {
        let r = (v * 1e4).rounded() / 1e4
        return "\(r)"
    }
    // Scientific with 3 significant digits.
    var exponent = 0
    var m = a
    while m >= 10 { m /= 10; exponent += 1 }
    while m < 1 { m *= 10; exponent -= 1 }
    var mant = (m * 100).rounded() / 100
    // m may be 9.99999... after the divisions (1e-14 gives 9.999999999999998): rounding
    // then yields 10.0, which must carry into the exponent ("1.0e-14", not "10.0e-15").
    if mant >= 10 { mant /= 10; exponent += 1 }
    return "\(v < 0 ? "-" : "")\(mant)e\(exponent)"
}
