// Step sources: what proposes a search direction s at an iterate (docs/architecture.md,
// "The minimiser's parts"). The minimiser asks its source for candidates, in order, and hands
// each to the globalisation until one is accepted; a source with fall-backs (FallbackChain)
// yields one candidate per model. The factory at the end of this file is the one place that
// says which sources a `HessianStrategy` uses.

import Cholmod
import SparseCore

/// A proposed step: the direction, the model that produced it and what the trace records of it.
struct ProposedStep {
    /// The matrix the step used.
    var model: StepModel
    /// The direction s (the line search tries x + t s).
    var direction: [Double]
    /// `<g, s>`, the directional derivative of L along s at x (negative for a descent direction).
    var slope: Double
    /// The damping mu of a damped step, else 0.
    var damping = 0.0
    /// Refinement steps taken and the residual after them (sketch with refinement only).
    var refinements: Int? = nil
    var refinementResidual: Double? = nil
    /// `A s` when the source already has it (`pcg`), so the line search needs no pass.
    var forward: [Double]? = nil
}

/// A step the globalisation accepted: x + t s and the evaluation there.
struct AcceptedStep {
    var proposal: ProposedStep
    var x: [Double]
    var evaluation: Evaluation
    /// The step length t.
    var length: Double
    /// Halvings of t before acceptance.
    var backtracks: Int
    /// Accepted in the round-off regime (its decrease is noise): kept only if ||g|| halves.
    var inRoundoff: Bool
    /// The evaluation's z was formed as `A x` by a pass (not updated as z + t A s).
    var zIsExact: Bool
    var model: StepModel { proposal.model }
}

/// What a step source gives for one request.
enum StepCandidate {
    /// A direction to hand to the globalisation.
    case step(ProposedStep)
    /// This model gave no usable direction (recorded in the trace's `rejections`).
    case rejected(ModelRejection)
    /// The run ends here (overflow, an assumption of the paper's Algorithm 1, ...).
    case stop(MinimizerStop)
}

/// Proposes Newton-type directions at an iterate.
protocol StepSource: AnyObject {
    /// The display names of the models tried, in order (for the message when all fail).
    var displayNames: [String] { get }
    /// Candidate number `attempt` (0, 1, ...) of this iteration at `state`, or nil when the
    /// source has no more. Attempt 0 starts a new iteration.
    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate?
    /// Told of the step the iteration accepted (from this source or another).
    func accepted(_ step: AcceptedStep)
}

extension StepSource {
    func accepted(_ step: AcceptedStep) {}
}

/// The candidate for direction `s` of `model`: rejected unless finite and a descent direction.
func descentCandidate(_ model: StepModel, _ s: [Double], gradient g: [Double], damping: Double = 0,
                      refinements: Int? = nil, refinementResidual: Double? = nil) -> StepCandidate {
    guard s.allSatisfy(\.isFinite) else { return .rejected(ModelRejection(model, .nonFiniteStep)) }
    let slope = dot(g, s)
    guard slope < 0 else { return .rejected(ModelRejection(model, .notDescent)) }
    return .step(ProposedStep(model: model, direction: s, slope: slope, damping: damping,
                              refinements: refinements, refinementResidual: refinementResidual))
}

/// The step source and globalisation of each `HessianStrategy` (`automatic` is resolved
/// before). A new step source is one file and one line here.
enum StepSourceFactory {
    static func make(for strategy: HessianStrategy, context: SolveContext, system: HessianSystem,
                     sampler: LeverageSampler, paperIterations: Int) throws(SolverError) -> (source: any StepSource, globalisation: any Globalisation) {
        let weights = HessianWeightsFactory.make(for: strategy, context: context, system: system,
                                                 sampler: sampler, paperIterations: paperIterations)
        let primary = NewtonMatrix(weights.primary, context: context)
        // One matrix per iteration when both roles use the same weights (the sketch's sample).
        let fallback = weights.fallback === weights.primary ? primary : NewtonMatrix(weights.fallback, context: context)
        let armijo = ArmijoLineSearch(context: context)
        let a = context.matrix
        if strategy != .exact, strategy != .automatic, a.globalRowCount < a.columnCount {
            // Only the exact strategy (and auto, which resolves to it for n < d) has the
            // minimum-norm step (MinimumNormStep.swift); the others say so instead of failing silently.
            context.rank = RankFinding(numericalRank: nil, deficient: true, basis: nil)
            context.warnings.append("A is rank-deficient (n = \(a.globalRowCount) rows < d = \(a.columnCount) columns): x is determined only up to null(A), z = A x is unique. --hessian \(strategy.rawValue) does not use the minimum-norm Newton step in range(A^T) (only exact does, and auto, which picks exact here): its A^T D A is singular, so its models fail or are damped, convergence is slow, and x is one minimiser, not the minimum-norm one. Use --hessian exact (or auto).")
        }
        switch strategy {
        case .paper:
            return (PaperStep(weights: weights.primary, context: context, system: system), FullStep(context: context))
        case .sketch:
            return (FallbackChain([
                FactoredNewtonStep(.sketch, "sketch", matrix: primary, context: context, system: system,
                                   refinementSteps: context.options.refinementSteps),
                FactoredNewtonStep(.sketchDiagonal, "sketch without rank-2 part", matrix: primary, context: context,
                                   system: system, rankTwo: false),
                DampedStep(matrix: fallback, context: context, system: system),
            ]), armijo)
        case .pcg:
            return (FallbackChain([PreconditionedNewtonCG(context: context, system: system, sampler: sampler),
                                   DampedStep(matrix: fallback, context: context, system: system)]), armijo)
        case .exact, .automatic:
            // Rank handling (MinimumNormStep.swift) wraps the chain: a full-rank run takes it unchanged.
            let chain = FallbackChain([
                FactoredNewtonStep(.exact, "exact", matrix: primary, context: context, system: system),
                FactoredNewtonStep(.gaussNewton, "Gauss-Newton", matrix: fallback, context: context, system: system),
                DampedStep(matrix: fallback, context: context, system: system),
            ])
            let source = RankAwareSource(fullRank: chain, exact: primary, gaussNewton: fallback, context: context, system: system)
            try source.checkAtStart()
            return (source, armijo)
        }
    }
}
