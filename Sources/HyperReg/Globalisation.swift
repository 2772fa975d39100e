// Globalisation: what makes a proposed direction into an accepted step (docs/solver.md, "One
// iteration"). Armijo backtracking (ArmijoLineSearch.swift) for the globalised strategies, the
// full step (FullStep.swift) for the paper's Algorithm 1; a trust region would be a third
// implementation beside them, chosen in StepSourceFactory, with no change to the minimiser.

/// What the globalisation made of a proposed step.
enum GlobalisationOutcome {
    /// x + t s is the next iterate.
    case accepted(AcceptedStep)
    /// No acceptable t: recorded in the trace's `rejections`; the step source's next model is tried.
    case rejected(ModelRejection)
    /// The run ends (e.g. a full step that overflows).
    case stop(MinimizerStop)
}

/// Turns proposed directions into accepted steps.
protocol Globalisation {
    /// Searches along `step` from `state`.
    func search(_ step: ProposedStep, from state: IterateState, iteration: Int) -> GlobalisationOutcome
    /// Checks an accepted step once the gradient at its end is known (`newGradientNorm`);
    /// a stop ends the run at `state` (the step is not kept).
    func confirm(_ step: AcceptedStep, from state: IterateState, newGradientNorm: Double) -> MinimizerStop?
}
