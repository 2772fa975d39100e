// The factored Newton step: CHOLMOD's LL^T of K = A^T diag(D) A (exact, Gauss-Newton or
// leverage-sampled D), then (K + U C U^T) s = -g by Woodbury with the exact rank-2 part, or
// K s = -g without it (docs/math.md, "Newton system"; HessianSystem.swift).

import Cholmod
import SparseCore

/// One Newton model: factor its matrix, solve for -g, refuse it when K is not positive
/// definite, when the rank-2 part makes the whole matrix indefinite (det S >= 0), or when the
/// step does not descend. The sketch's step can be refined towards the exact Newton step.
final class FactoredNewtonStep: StepSource {
    let model: StepModel
    let displayNames: [String]
    let matrix: NewtonMatrix
    let context: SolveContext
    let system: HessianSystem
    /// Whether the rank-2 part `U C U^T` is added (Woodbury) or left out.
    let rankTwo: Bool
    /// Preconditioned refinement steps towards the exact Newton step (0 = none).
    let refinementSteps: Int

    init(_ model: StepModel, _ displayName: String, matrix: NewtonMatrix, context: SolveContext, system: HessianSystem,
         rankTwo: Bool = true, refinementSteps: Int = 0) {
        self.model = model; self.displayNames = [displayName]; self.matrix = matrix; self.context = context
        self.system = system; self.rankTwo = rankTwo; self.refinementSteps = refinementSteps
    }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        guard attempt == 0 else { return nil }
        let k: AssembledMatrix
        switch try matrix.matrix(at: state, iteration: iteration) {
        case .stop(let stop): return .stop(stop)
        case .matrix(let m): k = m
        }
        let g = state.gradient
        var step: [Double]
        do {
            try system.factorize(values: k.values, shift: 0)
            if !rankTwo {
                step = try system.solvePlain(g.map { -$0 })
            } else {
                let sol = try system.solve(g.map { -$0 }, p: state.pieces.p, q: state.pieces.q,
                                           targetSquaredNorm: context.targetSquaredNorm)
                if !sol.isPositiveDefinite { return .rejected(ModelRejection(model, .indefiniteRankTwo)) }
                step = sol.solution
            }
        } catch .notPositiveDefinite(let column) {
            return .rejected(ModelRejection(model, .notPositiveDefinite(pivot: column)))
        } catch {
            throw .wrapping(error, during: "\(model.rawValue) step")
        }
        guard refinementSteps > 0 else { return descentCandidate(model, step, gradient: g) }
        let refined = try refine(step, at: state, diagonal: context.objective.hessianWeights(state.evaluation))
        return descentCandidate(model, refined.step, gradient: g, refinements: refined.taken, refinementResidual: refined.residual)
    }

    /// Preconditioned iterative refinement of the step towards the exact Newton step
    /// (`diagonal` = delta): s <- s + P^{-1}(-g - H s) with P the factored matrix plus the
    /// rank-2 part; two passes over A per step (H s). Stops early when the residual stops
    /// shrinking (H indefinite far from x*, or P too far from H). Returns the step, the steps
    /// taken and ||H s + g|| / ||g||.
    func refine(_ s0: [Double], at state: IterateState, diagonal: [Double]) throws(SolverError) -> (step: [Double], taken: Int, residual: Double) {
        let g = state.gradient
        var s = s0
        let gn = norm2(g)
        func residual(_ s: [Double]) -> [Double] {
            let hs = context.timed {
                context.objective.hessianVectorProduct(state.evaluation, pieces: state.pieces, delta: diagonal, s)
            }
            context.passes.forward += 1; context.passes.transpose += 1
            return zip(hs, g).map { -($0 + $1) }
        }
        var r = residual(s)
        var rn = norm2(r)
        var taken = 0
        for _ in 0..<refinementSteps {
            let corr: RankTwoSolve
            do {
                corr = try system.solve(r, p: state.pieces.p, q: state.pieces.q, targetSquaredNorm: context.targetSquaredNorm)
            } catch {
                throw .wrapping(error, during: "\(model.rawValue) step")
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
}
