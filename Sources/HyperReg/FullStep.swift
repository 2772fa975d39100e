// The full step x + s with no line search: the paper's Algorithm 1 as printed (its z = A (x + s)
// formed by one forward pass).

import SparseCore

/// Accepts every step in full; a step that makes u(Ax) overflow ends the run (`diverged`).
struct FullStep: Globalisation {
    let context: SolveContext

    func search(_ step: ProposedStep, from state: IterateState, iteration: Int) -> GlobalisationOutcome {
        let e = state.evaluation
        let s = step.direction
        let x1 = zip(state.x, s).map { $0 + $1 }
        let et: Evaluation
        if let As = step.forward {
            et = context.timed { context.objective.evaluate(from: e, step: 1, along: As) }
        } else {
            et = context.timed { context.objective.evaluate(z: context.forward(x1)) }
        }
        guard et.isFinite else {
            return .stop(MinimizerStop(termination: .diverged, message: "the full step of iteration \(iteration) makes u(Ax) overflow (|(Ax)_i| up to \(fmt(et.maxAbsZ))); Algorithm 1 has no line search. Use --hessian sketch or exact, or a start closer to the solution."))
        }
        return .accepted(AcceptedStep(proposal: step, x: x1, evaluation: et,
                                      length: 1, backtracks: 0, inRoundoff: false, zIsExact: step.forward == nil))
    }

    func confirm(_ step: AcceptedStep, from state: IterateState, newGradientNorm: Double) -> MinimizerStop? { nil }
}
