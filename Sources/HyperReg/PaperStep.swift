// The paper's Algorithm 1 as printed (docs/solver.md, "Hessian strategies"): D = B_diag + W^2
// must be positive (Lemma 6.4 samples D^{1/2} A); the sample of A^T D A, no rank-2 part; its
// step is taken in full (FullStep), with no fall-back.

import Cholmod
import SparseCore

/// Algorithm 1's step. Every failure ends the run with the reason: an overflow
/// (`nonFinite`), a non-positive D (`assumptionViolated`), a sample that does not span A's
/// columns (`stalled`).
final class PaperStep: StepSource {
    let displayNames = ["paper"]
    let weights: any HessianWeights
    let context: SolveContext
    let system: HessianSystem

    init(weights: any HessianWeights, context: SolveContext, system: HessianSystem) {
        self.weights = weights; self.context = context; self.system = system
    }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        guard attempt == 0 else { return nil }
        let d = weights.diagonal(at: state)
        if !context.problem.communicator.all(d.allSatisfy(\.isFinite)) { return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration)) }
        let bad = d.indices.filter { !(d[$0] > 0) }
        if let first = bad.first {
            return .stop(MinimizerStop(termination: .assumptionViolated, message: "the paper's Algorithm 1 needs D = B_diag(x) + diag(w o w) > 0 (Lemma 6.4 samples D^{1/2} A), but at iteration \(iteration) D_ii <= 0 in \(bad.count) of \(d.count) rows (first: row \(first + 1), D = \(fmt(d[first]))). Use --hessian sketch or exact, or larger weights (Theorem F.1 assumes w_i^2 >= 100 + l / sigma_min(A)^2)."))
        }
        let k: AssembledMatrix
        do { k = try weights.assemble(d, iteration: iteration) } catch .nonFinite {
            return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration))
        } catch { throw error }
        if !k.values.allSatisfy(\.isFinite) { return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration)) }
        let kept = context.notes.rowsKept ?? 0
        let g = state.gradient
        let s: [Double]
        do {
            try system.factorize(values: k.values, shift: 0)
            s = try system.solvePlain(g.map { -$0 })
        } catch .notPositiveDefinite(let column) {
            return .stop(MinimizerStop(termination: .stalled, message: "the sampled Hessian A^T D~ A (\(kept) rows kept) is not positive definite (CHOLMOD pivot \(column)) at iteration \(iteration): the sample does not span A's columns"))
        } catch {
            throw .wrapping(error, during: "paper step")
        }
        // A NaN step would otherwise surface as "diverged" (u overflows) in the full step.
        guard s.allSatisfy(\.isFinite) else {
            return .stop(.nonFinite(MinimizerStop.place(iteration: iteration),
                                    (.arithmetic("the paper step solved from the sampled Hessian"), "the step of iteration \(iteration) solved from the sampled Hessian (\(kept) rows kept) is not finite. Use --hessian sketch or exact.")))
        }
        return .step(ProposedStep(model: .paper, direction: s, slope: dot(g, s)))
    }
}
