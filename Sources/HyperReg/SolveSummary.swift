// The summary of a solve: the per-iteration trace as it grows, the iterates kept to measure
// distances afterwards, and the `SolverResult` built when the minimiser stops.

#if canImport(Glibc)
import Glibc
#endif
import SparseCore

/// Collects the trace and builds the result.
struct SolveSummary {
    /// Iterates are kept (to give a converged run distances to its own final x) only while
    /// d x (iterations + 1) stays below this many Doubles (400 MB).
    static let iterateMemoryBound = 50_000_000

    let context: SolveContext
    let x0: [Double]
    let initialLoss: Double
    let initialGradientNorm: Double
    private(set) var trace: [IterationRecord]
    private var iterates: [[Double]]
    private let keepIterates: Bool

    /// The summary of a run from `start` (x0), with trace row 0.
    init(context: SolveContext, start: IterateState, maxIterations: Int) {
        self.context = context
        x0 = start.x
        initialLoss = start.evaluation.loss
        initialGradientNorm = start.gradientNorm
        var first = IterationRecord(iteration: 0, loss: start.evaluation.loss, gradientNorm: start.gradientNorm,
                                    relativeGradientNorm: 1, stepLength: 0, stepNorm: 0, model: nil, damping: 0,
                                    backtracks: 0, rejectedModels: [], seconds: context.elapsed())
        if let r = context.options.reference { first.referenceDistance = norm2(zip(start.x, r).map { $0 - $1 }) }
        trace = [first]
        iterates = [start.x]
        keepIterates = context.options.reference == nil
            && maxIterations < Self.iterateMemoryBound   // d * (maxIterations + 1) cannot overflow below it
            && context.problem.columnCount * (maxIterations + 1) <= Self.iterateMemoryBound
    }

    /// Appends an iteration's record for the new iterate x, with its distance to the given
    /// reference and the contraction.
    mutating func record(_ row: IterationRecord, x: [Double]) {
        var record = row
        if let r = context.options.reference {
            record.referenceDistance = norm2(zip(x, r).map { $0 - $1 })
            if let previous = trace.last?.referenceDistance, previous > 0 { record.contraction = record.referenceDistance! / previous }
        }
        trace.append(record)
        if keepIterates { iterates.append(x) }
    }

    /// The result of a run that stopped at `state`: loss and gradient of x itself (recomputed
    /// when z was updated incrementally), never worse than x0 (except for `paper` and
    /// `nonFinite`), with the warnings, the counters and the distances.
    mutating func result(_ stop: MinimizerStop, at state: IterateState) -> SolverResult {
        let t = stop.termination
        let (fx, fe, fg) = finalPoint(stop, at: state)
        let c = context
        if let s = c.system {
            c.timings.assembly = s.assembleSeconds
            c.timings.factorization = s.factorSeconds
            c.timings.solve = s.solveSeconds
            c.passes.assembly = s.assemblyCount
            c.passes.sampledAssembly = s.sampledAssemblyCount
            c.passes.denseBlockAssembly = s.denseBlockAssemblyCount
        }
        c.timings.total = c.elapsed()
        if c.options.measurePass { c.timings.onePass = NewtonSolver.passSeconds(of: c.problem, at: fx) }
        c.warnings += degenerateWarnings(c.problem, fx, fe)
        if c.problem.function == .exp, c.problem.hasZeroWeights, t == .converged || t == .convergedAtRoundoff || t == .stalled || t == .iterationLimit,
           let residual = OnesInRange.residual(c.problem.matrix), residual < OnesInRange.cutoff {
            c.warnings.append("exp with w = 0 and the all-ones vector (nearly) in range(A) (least-squares residual \(fmt(residual)) per row): with A y = 1, L(x + t y) = e^{2t} L(x), so L has no minimiser unless it reaches 0, and then a whole line of them; this x is one point of that line (sum of u = \(fmt(fe.alpha))). Use a positive weight w for a unique answer.")
        }
        var text = stop.message
        if trace.count > 1, !state.zIsExact { text += " (recomputed from the returned x: relative gradient norm \(fmt(fg / initialGradientNorm)))" }
        let (source, predicted) = distances(t, finalX: fx)
        var result = SolverResult(termination: t, message: text, x: fx, initialLoss: initialLoss, finalLoss: fe.loss,
                            initialGradientNorm: initialGradientNorm, finalGradientNorm: fg, iterations: trace.count - 1,
                            trace: trace, timings: c.timings, passes: c.passes, warnings: c.warnings,
                            hessianPatternEntries: c.system?.pattern.entryCount ?? 0,
                            supernodal: c.system?.factor.isSupernodal ?? false,
                            strategy: c.strategy, strategyReason: c.strategyReason,
                            leverageEstimates: c.leverageEstimates, leverageReuses: c.leverageReuses,
                            reference: source, predictedIterations: predicted, nonFiniteCause: stop.cause)
        result.fitL1 = Self.fitL1(fe, communicator: c.problem.communicator)
        (result.numericalRank, result.rankDeficient) = rankFound()
        return result
    }

    /// The rank check's finding, or rank d when a d x d Newton matrix A^T D A factored as
    /// positive definite (then A has full column rank), else unknown.
    private func rankFound() -> (Int?, Bool) {
        if let r = context.rank { return (r.numericalRank, r.deficient) }
        let factored: Set<StepModel> = [.exact, .gaussNewton, .sketch, .sketchDiagonal, .paper]
        return (trace.contains { $0.model.map(factored.contains) ?? false } ? context.problem.columnCount : nil, false)
    }

    /// `||c||_1 / |alpha| = ||u/alpha - b||_1` (c = u - alpha b), summed in row order; nil when
    /// alpha is 0 or the sum is not finite.
    /// (In a distributed run, collective: the sum is over every rank's rows, in rank order.)
    static func fitL1(_ e: Evaluation, communicator: any Communicator = SingleProcess.shared) -> Double? {
        guard e.alpha != 0, e.alpha.isFinite else { return nil }
        var sum = 0.0
        for i in e.u.indices { sum += Swift.abs(e.cEntry(i)) }  // c formed entry by entry: no n-vector
        sum = communicator.sum(sum)
        let fit = sum / Swift.abs(e.alpha)
        return fit.isFinite ? fit : nil
    }

    /// x, its evaluation and ||g|| to return: recomputed from x when its z was updated
    /// incrementally (z + t A s: a backtracked or Newton-CG step), x0 when
    /// x is not better (except for `paper`, which reports where Algorithm 1 went, and
    /// `nonFinite`).
    private func finalPoint(_ stop: MinimizerStop, at state: IterateState) -> ([Double], Evaluation, Double) {
        let c = context
        var fx = state.x, fe = state.evaluation, fg = state.gradientNorm
        if trace.count > 1, !state.zIsExact {
            fe = c.timed { c.objective.evaluate(state.x) }
            fg = norm2(c.timed { c.objective.gradient(fe) })
            c.passes.forward += 1
            c.passes.transpose += 1
        }
        if stop.termination != .nonFinite && !(fe.loss <= initialLoss) && c.strategy != .paper {
            fx = x0; fe = c.timed { c.objective.evaluate(x0) }; fg = initialGradientNorm
            c.warnings.append("the final point was not better than x0, so x0 is returned")
        } else if c.strategy == .paper && stop.termination != .nonFinite && !(fe.loss <= initialLoss) {
            // Algorithm 1 as printed has no line search: say so when it went uphill.
            c.warnings.append("the paper's Algorithm 1 ended at a loss of \(fmt(fe.loss)), above L(x0) = \(fmt(initialLoss)) (it takes full steps with no line search): x is where the algorithm went, not a better point; --hessian sketch or exact globalise the same steps")
        }
        return (fx, fe, fg)
    }

    /// Distances to the final iterate of a converged run, when no reference was given; the
    /// contractions and Theorem F.1's iteration count for whichever distances there are.
    private mutating func distances(_ t: Termination, finalX fx: [Double]) -> (source: ReferenceSource?, predicted: Double?) {
        var source: ReferenceSource? = context.options.reference == nil ? nil : .given
        if context.options.reference == nil, t == .converged, keepIterates, iterates.count == trace.count, trace.count > 1 {
            source = .finalIterate
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
        return (source, predicted)
    }
}
