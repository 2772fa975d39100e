// The minimiser (docs/architecture.md, "The minimiser's parts"; in the manner of Ceres'
// minimizer.h): set up, evaluate the start, then a loop over an iterate state that checks
// termination, asks a step source for candidates, hands each to the globalisation, records the
// trace and calls the callback. What is tried (StepSource, HessianWeights), how it is accepted
// (Globalisation) and what is reported (SolveSummary) live in their own files.

#if canImport(Glibc)
import Glibc
#endif
import Cholmod
import SparseCore

/// Iteration budget: `SolverOptions.maxIterations`, or for `paper` at most Algorithm 1's
/// `T = ceil(ln(1/tolerance) / ln 2.5)` (Theorem F.1 contracts ||x_t - x*|| by 2.5 per step).
struct IterationBudget {
    /// Theorem F.1's contraction factor per iteration.
    static let paperContraction = 2.5
    /// T is computed for a tolerance of at least this (tolerance 0 would make T infinite).
    static let smallestTolerance = 1e-300

    let maxIterations: Int
    /// Algorithm 1's T (computed for every strategy; used by `paper`).
    let paperIterations: Int
    /// True when the paper's T, not `maxIterations`, is the limit.
    let paperLimits: Bool

    init(options: SolverOptions, strategy: HessianStrategy) {
        paperIterations = max(1, Int((Glibc.log(1 / max(options.tolerance, Self.smallestTolerance)) / Glibc.log(Self.paperContraction)).rounded(.up)))
        maxIterations = strategy == .paper ? min(options.maxIterations, paperIterations) : options.maxIterations
        paperLimits = strategy == .paper && maxIterations == paperIterations && paperIterations < options.maxIterations
    }

    /// The words for "stopped after ..." at `iteration`.
    func limitWords(iteration: Int) -> String {
        paperLimits ? "the paper's T = ceil(ln(1/tolerance)/ln 2.5) = \(paperIterations) iterations" : "\(iteration) iterations"
    }
}

/// exp with w = 0 can drive u(Ax) towards 0 so that L tends to 0 without a minimiser
/// (docs/math.md, "Degenerate cases"): the thresholds that call a run degenerate.
enum DegenerateExp {
    /// After a step: sum of u below this fraction of its start value.
    static let collapsedSum = 1e-8
    /// At a small gradient: sum of u below this fraction of its start (the gradient scales like
    /// u^2, so a relative tolerance of 1e-10 is met once u has fallen ~1e5-fold) ...
    static let shrunkSum = 1e-3
    /// ... while the normalised fit `sqrt(2L) / (alpha ||b||)` is above this (a real solution
    /// fits b after normalisation; a collapse of u does not).
    static let normalisedFit = 1e-6
    // At the end of a run, whether the all-ones vector is in range(A): `OnesInRange`.
}

/// The Newton minimiser behind `NewtonSolver.solve`.
struct Minimizer {
    /// The dense sketch of `sketch` and `paper` may take at most this many bytes (8 GiB).
    static let sketchByteLimit = 1 << 33

    let options: SolverOptions
    let problem: Problem

    /// Solves from `x0` (already validated by `NewtonSolver.solve`).
    func minimize(from x0: [Double]) throws(SolverError) -> SolverResult {
        let started = ContinuousClock().now
        var strategy = options.hessian
        var strategyReason = "requested"
        if strategy == .automatic {
            (strategy, strategyReason) = options.costModel.choose(matrix: problem.matrix, sketch: options.sketch,
                                                                  pcgSampleFactor: options.pcgSampleFactor, function: problem.function)
        }
        let context = SolveContext(options: options, problem: problem, strategy: strategy, strategyReason: strategyReason, started: started)
        let a = problem.matrix
        let sampler = LeverageSampler(matrix: a, options: options.sketch)
        if strategy == .sketch || strategy == .paper || strategy == .pcg, sampler.sketchBytes > Self.sketchByteLimit {
            throw .invalidOptions("--hessian \(strategy.rawValue) needs a dense \(sampler.embeddingRows) x \(a.columnCount) sketch (\(sampler.sketchBytes >> 20) MB); use --hessian exact for d = \(a.columnCount)")
        }
        let budget = IterationBudget(options: options, strategy: strategy)

        // Exact Newton assembles its first Hessian in the sweep of the start's gradient, so the
        // symbolic analysis comes first (should it fail here, it is redone and reported below).
        if fusesAssembly(context, strategy: strategy) && budget.maxIterations > 0 && options.tolerance < 1 {
            _ = try? setUpSystem(context)
        }
        let start = evaluateStart(context, x0)
        var summary = SolveSummary(context: context, start: start, maxIterations: budget.maxIterations)
        if let stop = checkStart(context, start, summary.trace[0], budget) { return summary.result(stop, at: start) }

        // Symbolic analysis once.
        let system: HessianSystem
        if let early = context.system { system = early } else { system = try setUpSystem(context) }
        let parts = try StepSourceFactory.make(for: strategy, context: context, system: system, sampler: sampler,
                                           paperIterations: budget.paperIterations)
        return try iterate(context, &summary, from: start, source: parts.source, globalisation: parts.globalisation, budget: budget)
    }

    /// The CHOLMOD system for A^T A (pattern and symbolic analysis, once), set in `context`.
    func setUpSystem(_ context: SolveContext) throws(SolverError) -> HessianSystem {
        let analysisStart = context.clock.now
        let system: HessianSystem
        do {
            system = try HessianSystem(matrix: problem.matrix, context: try CholmodContext(), costModel: options.costModel)
        } catch {
            throw .wrapping(error, during: "setting up CHOLMOD for A^T A (d = \(problem.columnCount))")
        }
        context.system = system
        context.timings.analysis += seconds(context.clock.now - analysisStart)
        return system
    }

    /// Whether exact Newton's assembly can share the gradient's sweep (issue 14, item 3): the
    /// exact strategy on a matrix with at least as many rows as columns (a rank-deficient A
    /// takes the minimum-norm steps, which assemble their own matrices).
    func fusesAssembly(_ context: SolveContext, strategy: HessianStrategy) -> Bool {
        options.fusesGradientAndAssembly && strategy == .exact && problem.globalRowCount >= problem.columnCount
    }

    /// The quadratic model's guess at `||g_k||` from `||g_{k-2}||` and `||g_{k-1}||`
    /// (`||g_k|| ~ C ||g_{k-1}||^2` with C from the step before: `g_{k-1}^3 / g_{k-2}^2`), when
    /// the step to x_k was a full one; nil otherwise.
    static func predictedGradientNorm(previous: [Double], fullStep: Bool) -> Double? {
        guard fullStep, previous.count >= 2 else { return nil }
        let g1 = previous[previous.count - 1], g2 = previous[previous.count - 2]
        guard g2 > 0, g1 < g2 else { return nil }
        return g1 * g1 * g1 / (g2 * g2)
    }

    /// A margin on the tolerance for that guess: fuse unless the run is predicted to stop
    /// within 100x of it (a fused sweep at the last iterate wastes an assembly, about 3
    /// passes; an unfused one where fusing would have paid costs about one).
    static let predictionMargin = 100.0

    /// The gradient pieces at `e`, one transpose pass; with `fuse`, the exact Hessian at the
    /// same point is assembled in that sweep (the same bits as apart).
    func gradient(_ context: SolveContext, _ e: Evaluation, fuse: Bool) -> (GradientPieces, PreassembledHessian?) {
        context.passes.transpose += 1
        if fuse, e.isFinite, let system = context.system, system.fullAssemblyIsSparse {
            let (pieces, hessian) = system.assembleWithGradient(context.objective, e)
            return (pieces, hessian)
        }
        return (context.timed { context.objective.gradientPieces(e) }, nil)
    }

    /// The loop: termination tests, a step from the source accepted by the globalisation, the
    /// trace row, the callback.
    func iterate(_ context: SolveContext, _ summary: inout SolveSummary, from start: IterateState, source: any StepSource,
                 globalisation: any Globalisation, budget: IterationBudget) throws(SolverError) -> SolverResult {
        var state = start
        let alpha0 = start.evaluation.alpha
        let g0 = start.gradientNorm
        var iteration = 0
        var norms = [g0]  // ||g|| at x_0 ... x_iteration
        while true {
            if let stop = checkBeforeStep(context, state, iteration: iteration, alpha0: alpha0, budget: budget) {
                return summary.result(stop, at: state)
            }
            iteration += 1
            let before = context.snapshot()
            let trafficBefore = problem.communicator.traffic
            context.notes = IterationNotes()
            context.formsLastFullStep = context.strategy == .pcg
                && PreconditionedNewtonCG.predictedGradientNorm(previous: norms, tolerance: options.tolerance) <= options.tolerance * g0
            var rejected: [ModelRejection] = []
            var accepted: AcceptedStep? = nil
            var attempt = 0
            search: while let candidate = try source.candidate(attempt, at: state, iteration: iteration) {
                attempt += 1
                switch candidate {
                case .stop(let stop): return summary.result(stop, at: state)
                case .rejected(let why): rejected.append(why)
                case .step(let proposal):
                    switch globalisation.search(proposal, from: state, iteration: iteration) {
                    case .accepted(let step): accepted = step; break search
                    case .rejected(let why): rejected.append(why)
                    case .stop(let stop): return summary.result(stop, at: state)
                    }
                }
            }
            guard let step = accepted else {
                return summary.result(MinimizerStop(termination: .stalled, message: "no model (\(source.displayNames.joined(separator: ", "))) gave an acceptable step at iteration \(iteration): \(rejected.map(\.description).joined(separator: "; ")); relative gradient norm \(fmt(state.gradientNorm / g0))"), at: state)
            }
            let predicted = Self.predictedGradientNorm(previous: norms, fullStep: step.length == 1)
            let fuse = fusesAssembly(context, strategy: context.strategy) && context.rank == nil && iteration < budget.maxIterations
                && (predicted.map { $0 > Self.predictionMargin * options.tolerance * g0 } ?? true)
            let (pieces, hessian) = gradient(context, step.evaluation, fuse: fuse)
            let newNorm = norm2(pieces.gradient)
            norms.append(newNorm)
            if !(newNorm.isFinite && norm2(pieces.p).isFinite && norm2(pieces.q).isFinite) {
                return summary.result(.nonFinite("overflow at the iterate of iteration \(iteration)",
                                                 NonFiniteDiagnosis.gradient(problem, step.x, step.evaluation, context.objective, pieces, atStart: false)),
                                      at: state)
            }
            if let stop = globalisation.confirm(step, from: state, newGradientNorm: newNorm) { return summary.result(stop, at: state) }
            let stepNorm = norm2(zip(step.x, state.x).map { $0 - $1 })
            // The old iterate's n-vectors and the step's A s go back to the pool for the next
            // trial points (the references below are the last ones once `state` is replaced).
            context.objective.recycle(state.evaluation)
            if let forward = step.proposal.forward { context.objective.recycle(forward) }
            state = IterateState(x: step.x, evaluation: step.evaluation, pieces: pieces, gradientNorm: newNorm, zIsExact: step.zIsExact,
                                 exactHessian: hessian)
            source.accepted(step)
            var record = iterationRecord(context, step, state, iteration: iteration, stepNorm: stepNorm, rejected: rejected, since: before)
            let comm = problem.communicator
            if comm.isDistributed {
                // Every rank computed x from the same sums and the same d x d solves; check that
                // they agree (one small collective) rather than let diverging ranks wait forever.
                var hash: UInt64 = 0xCBF2_9CE4_8422_2325
                for v in state.x { hash = (hash ^ v.bitPattern) &* 0x100_0000_01B3 }
                let hashes = comm.allGather([Int(truncatingIfNeeded: hash)])
                guard hashes.allSatisfy({ $0 == hashes[0] }) else {
                    throw .factorization("the ranks computed different iterates at iteration \(iteration) (their dense d x d solves differ: are the nodes' CPUs or BLAS libraries different?)")
                }
                let traffic = comm.traffic.since(trafficBefore)
                record.communicationSeconds = traffic.seconds
                record.communicationBytes = traffic.bytesSent
            }
            summary.record(record, x: state.x)
            if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, state.evaluation.alpha < DegenerateExp.collapsedSum * alpha0 {
                return summary.result(MinimizerStop(termination: .degenerate, message: "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(state.evaluation.alpha))), so L tends to 0 without a minimiser. Use a positive weight w."), at: state)
            }
            if let callback = options.onIteration, !callback(record) {
                return summary.result(MinimizerStop(termination: .stoppedByCallback, message: "stopped by the iteration callback after \(iteration) iterations"), at: state)
            }
        }
    }

    /// The trace row of an accepted step.
    func iterationRecord(_ context: SolveContext, _ step: AcceptedStep, _ state: IterateState, iteration: Int, stepNorm: Double,
                         rejected: [ModelRejection], since before: IterationTimes) -> IterationRecord {
        let after = context.snapshot()
        var times = IterationTimes()
        times.passes = after.passes - before.passes
        times.sketch = after.sketch - before.sketch
        times.assembly = after.assembly - before.assembly
        times.factorization = after.factorization - before.factorization
        times.solve = after.solve - before.solve
        var record = IterationRecord(iteration: iteration, loss: state.evaluation.loss, gradientNorm: state.gradientNorm,
                                     relativeGradientNorm: state.gradientNorm / context.initialGradientNorm,
                                     stepLength: step.length, stepNorm: stepNorm, model: step.model, damping: step.proposal.damping,
                                     backtracks: step.backtracks, rejectedModels: rejected.map(\.description), seconds: context.elapsed())
        record.rejections = rejected
        record.rowsKept = context.notes.rowsKept
        record.leverageReused = context.notes.leverageReused
        record.cgIterations = context.notes.cgIterations
        record.preconditionerAge = context.notes.preconditionerAge
        record.cgStop = context.notes.cgStop
        if step.model == .sketch {
            record.refinements = step.proposal.refinements
            record.refinementResidual = step.proposal.refinementResidual
        }
        record.times = times
        record.slope = step.proposal.slope
        return record
    }

    /// Converged (or degenerate at a small gradient), or out of iterations.
    func checkBeforeStep(_ context: SolveContext, _ state: IterateState, iteration: Int, alpha0: Double,
                         budget: IterationBudget) -> MinimizerStop? {
        let gNorm = state.gradientNorm, g0 = context.initialGradientNorm, e = state.evaluation
        if gNorm.isFinite, gNorm <= options.tolerance * g0 {
            if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, e.alpha < DegenerateExp.shrunkSum * alpha0,
               (2 * e.loss).squareRoot() > DegenerateExp.normalisedFit * e.alpha * context.targetSquaredNorm.squareRoot() {
                return MinimizerStop(termination: .degenerate, message: "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(e.alpha)) while u / sum(u) does not fit b), so L tends to 0 without a minimiser; the small gradient is not convergence. Use a positive weight w.")
            }
            return MinimizerStop(termination: .converged, message: "relative gradient norm \(fmt(gNorm / g0)) <= tolerance \(fmt(options.tolerance)) at iteration \(iteration)")
        }
        if iteration >= budget.maxIterations {
            return MinimizerStop(termination: .iterationLimit, message: "stopped after \(budget.limitWords(iteration: iteration)) at relative gradient norm \(fmt(gNorm / g0)) (tolerance \(fmt(options.tolerance)))")
        }
        return nil
    }

    /// The iterate at x0: one forward and one transpose pass.
    func evaluateStart(_ context: SolveContext, _ x0: [Double]) -> IterateState {
        let e = context.timed { context.objective.evaluate(x0) }
        context.passes.forward += 1
        let (pieces, hessian) = gradient(context, e, fuse: context.system != nil)
        let state = IterateState(x: x0, evaluation: e, pieces: pieces, gradientNorm: norm2(pieces.gradient), zIsExact: true,
                                 exactHessian: hessian)
        context.initialGradientNorm = state.gradientNorm
        return state
    }

    /// Reasons to stop at the start point: overflow (no NaN may pass a test below: a NaN or
    /// infinite ||g(x0)|| made "converged" out of -nan <= tolerance), the callback, a
    /// stationary start, a tolerance already met.
    func checkStart(_ context: SolveContext, _ start: IterateState, _ row: IterationRecord, _ budget: IterationBudget) -> MinimizerStop? {
        let e = start.evaluation, x0 = start.x
        if !e.isFinite {
            return .nonFinite(MinimizerStop.place(iteration: 0), NonFiniteDiagnosis.evaluation(problem, x0, e, atStart: true))
        }
        if !(start.gradientNorm.isFinite && norm2(start.pieces.p).isFinite && norm2(start.pieces.q).isFinite) {
            return .nonFinite(MinimizerStop.place(iteration: 0),
                              NonFiniteDiagnosis.gradient(problem, x0, e, context.objective, start.pieces, atStart: true))
        }
        if let callback = options.onIteration, !callback(row) {
            return MinimizerStop(termination: .stoppedByCallback, message: "stopped by the iteration callback at the start point")
        }
        if start.gradientNorm == 0 {
            return MinimizerStop(termination: .stationaryStart, message: stationaryStartMessage(problem, x0))
        }
        if options.tolerance >= 1 || start.gradientNorm <= options.tolerance * start.gradientNorm && budget.maxIterations == 0 {
            return MinimizerStop(termination: .converged, message: "the start point already satisfies the tolerance")
        }
        return nil
    }
}
