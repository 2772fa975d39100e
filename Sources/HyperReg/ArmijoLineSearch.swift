// Armijo backtracking: the full step's z = A (x + s) formed by one forward pass, then trials
// along z(t) = z + t A s with A s = z(1) - z (no pass over A per trial), and the round-off rule
// (docs/solver.md, "Round-off regime").

import SparseCore

/// When a decrease of L can no longer be seen in Double arithmetic, and what is then required
/// of a step. In one place: the line search asks it whether to accept, the minimiser (through
/// `ArmijoLineSearch.confirm`) whether to keep.
struct RoundoffRule {
    /// `SolverOptions.roundoffFactor`: the noise of L is `factor * eps * max(1, |L|)`.
    let factor: Double
    /// A step accepted in the round-off regime must shrink ||g|| by this factor or the run
    /// stalls. A Newton step in its quadratic regime does far better; steps among round-off
    /// do not. Without it, Armijo "decreases" of round-off size kept accepting full steps at a
    /// gradient floor until the iteration limit (measured at 4e6 rows, relative gradient 6e-13).
    static let requiredGradientReduction = 0.5

    /// The round-off noise of L at `loss`.
    func noise(loss: Double) -> Double { factor * Double.ulpOfOne * max(1, Swift.abs(loss)) }
    /// The minimum-norm models (rank-deficient A), whose round-off regime has its own noise
    /// estimate and a freshly formed z.
    static func isMinimumNorm(_ model: StepModel) -> Bool {
        [.minimumNorm, .minimumNormSaddleFree, .minimumNormGaussNewton, .minimumNormDamped].contains(model)
    }
    /// The noise of L for a step of `model`: `noise(loss:)`, and for the minimum-norm models
    /// (rank-deficient A) also the cancellation in the fit term, `factor * eps * sum_i |c_i|
    /// (|u_i| + |alpha b_i|)` (c_i = u_i - alpha b_i is computed with an error of about
    /// eps (|u_i| + |alpha b_i|), and 0.5 ||c||^2 moves by sum |c_i| times that). When alpha ||b||
    /// is large against ||c|| it is the larger one: 8.7e-12 against 1.2e-13 at the minimiser of the
    /// short-text problem hidden-orchard-l4h9 (alpha = 2.6e3), where L rose by more than
    /// `noise(loss:)` along a full Newton step whose predicted decrease was 4e-22 (docs/solver.md,
    /// "Rank-deficient A"). Other models keep `noise(loss:)` (their paths are frozen bit for bit).
    /// (In a distributed run, collective: the sum is over every rank's rows.)
    func noise(_ e: Evaluation, model: StepModel, target b: [Double], communicator: any Communicator) -> Double {
        let plain = noise(loss: e.loss)
        guard Self.isMinimumNorm(model) else { return plain }
        var fit = 0.0
        for i in e.u.indices { fit += Swift.abs(e.cEntry(i)) * (Swift.abs(e.u[i]) + Swift.abs(e.alpha * b[i])) }
        fit = communicator.sum(fit)
        let cancellation = factor * Double.ulpOfOne * fit
        return cancellation.isFinite ? max(plain, cancellation) : plain
    }
    /// True when the predicted decrease `-slope` is below the noise: no decrease can be seen.
    func isRoundoff(slope: Double, noise: Double) -> Bool { -slope <= noise }
    /// Whether a step accepted in the round-off regime is kept: ||g|| must shrink enough.
    func keeps(newGradientNorm: Double, oldGradientNorm: Double) -> Bool {
        newGradientNorm <= Self.requiredGradientReduction * oldGradientNorm
    }
}

/// Backtracking line search: the largest `t = 2^-k`, k <= `maxBacktracks`, with
/// `L(x + t s) <= L(x) + armijo * t * <g, s>`; a trial where u overflows is a failure. In the
/// round-off regime the full step is also accepted if L does not rise above the noise.
struct ArmijoLineSearch: Globalisation {
    let context: SolveContext
    /// Each failed trial multiplies t by this (halving).
    static let backtrackFactor = 0.5

    var roundoff: RoundoffRule { RoundoffRule(factor: context.options.roundoffFactor) }

    func search(_ step: ProposedStep, from state: IterateState, iteration: Int) -> GlobalisationOutcome {
        let options = context.options
        let e = state.evaluation, s = step.direction, slope = step.slope
        let noise = roundoff.noise(e, model: step.model, target: context.problem.target, communicator: context.problem.communicator)
        let inRoundoff = roundoff.isRoundoff(slope: slope, noise: noise)
        // The full step first. Without a product A s from the step source, its z = A (x + s) is
        // formed by one forward pass (the pass A s would cost): the iterate's z is then exact,
        // so the minimiser need not recompute L and g from the returned x (two passes), and a
        // round-off decision carries no drift of an incrementally updated z (on the short
        // text hidden-orchard-l4h9 that drift alone put the recomputed gradient 3x above the
        // iteration's). With a product (Newton-CG's, from its Hessian-vector products), z + A s.
        let x1 = zip(state.x, s).map { $0 + $1 }
        let e1: Evaluation
        // Newton-CG's A s is free, but a z formed from it would leave the end point to be
        // recomputed (two passes): when this step is predicted to end the run, one pass
        // forms z instead.
        let formed = step.forward == nil || context.formsLastFullStep
        if formed {
            let z1 = context.forward(x1)
            e1 = context.timed { context.objective.evaluate(z: z1) }
        } else {
            e1 = context.timed { context.objective.evaluate(from: e, step: 1, along: step.forward!) }
        }
        if e1.isFinite, e1.loss <= e.loss + options.armijo * slope || inRoundoff && e1.loss <= e.loss + noise {
            return .accepted(AcceptedStep(proposal: step, x: x1, evaluation: e1, length: 1, backtracks: 0,
                                          inRoundoff: inRoundoff, zIsExact: formed))
        }
        // Backtracking along z(t) = z + t A s, no pass over A per trial; A s is z(1) - z when
        // z(1) was formed (a pass only when that difference is not finite).
        let As = step.forward
            ?? context.timed { context.objective.forwardDifference(e1, e) }
            ?? context.forward(s)
        context.objective.recycle(e1)
        defer { if step.forward == nil { context.objective.recycle(As) } }
        var t = Self.backtrackFactor
        for backtrack in stride(from: 1, through: options.maxBacktracks, by: 1) {
            let et = context.timed { context.objective.evaluate(from: e, step: t, along: As) }
            if et.isFinite, et.loss <= e.loss + options.armijo * t * slope {
                return .accepted(AcceptedStep(proposal: step, x: zip(state.x, s).map { $0 + t * $1 }, evaluation: et,
                                              length: t, backtracks: backtrack, inRoundoff: inRoundoff, zIsExact: false))
            }
            context.objective.recycle(et)
            t *= Self.backtrackFactor
        }
        return .rejected(ModelRejection(step.model, .noDecrease(halvings: options.maxBacktracks)))
    }

    func confirm(_ step: AcceptedStep, from state: IterateState, newGradientNorm: Double) -> MinimizerStop? {
        let keeps = RoundoffRule.isMinimumNorm(step.model)
            ? newGradientNorm < state.gradientNorm
            : roundoff.keeps(newGradientNorm: newGradientNorm, oldGradientNorm: state.gradientNorm)
        guard step.inRoundoff, !keeps else { return nil }
        let g0 = context.initialGradientNorm
        if step.model != .damped, step.model != .minimumNormDamped {
            // A Newton-type model's predicted decrease is about 2 (L - L*): below the noise of L,
            // the minimum is reached to Double precision. (A damped step's is not: mu shrinks it.)
            let noise = roundoff.noise(state.evaluation, model: step.model, target: context.problem.target, communicator: context.problem.communicator)
            return MinimizerStop(termination: .convergedAtRoundoff, message: "converged to the round-off floor: the \(step.model.rawValue) step's predicted decrease \(fmt(-step.proposal.slope)) is below the round-off noise \(fmt(noise)) of L = \(fmt(state.evaluation.loss)), so L cannot be lowered further in Double arithmetic, and a full step no longer halves the gradient norm; relative gradient norm \(fmt(state.gradientNorm / g0)) (the tolerance \(fmt(context.options.tolerance)) asks for less than the arithmetic allows here; x is as accurate as it can be)")
        }
        return MinimizerStop(termination: .stalled, message: "reached the round-off floor: the predicted decrease is below Double precision of L = \(fmt(state.evaluation.loss)) and a full step no longer halves the gradient norm; relative gradient norm \(fmt(state.gradientNorm / g0)) (tolerance \(fmt(context.options.tolerance)) is below what the arithmetic allows here)")
    }
}
