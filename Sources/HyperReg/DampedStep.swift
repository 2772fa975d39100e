// Levenberg-Marquardt damping: the fall-back matrix (Gauss-Newton for `exact`, the sample for
// `sketch`) plus mu I with the rank-2 part, mu raised until the factorisation succeeds, the
// whole matrix is positive definite and the step descends (docs/solver.md, "One iteration").

import Cholmod
import SparseCore

/// The damping schedule.
enum DampingSchedule {
    /// The first mu of an iteration, relative to the mean |diagonal| of K: small enough not to
    /// bias a matrix that is only barely singular (an all-zero column, a duplicated one), large
    /// enough to be seen against round-off of the diagonal (1e-16 relative).
    static let initialRelative = 1e-8
    /// mu is multiplied by this after each failure within an iteration, and the next
    /// iteration starts from the last accepted mu divided by it (the classic
    /// Levenberg-Marquardt factor; Marquardt 1963 used 10).
    static let factor = 10.0
    /// Failures before the model is given up: 30 factors of 10 take mu from 1e-8 to 1e22 of
    /// the diagonal, beyond which K + mu I is mu I to Double precision.
    static let maxTries = 30
}

/// The damped Newton step; remembers the last accepted mu, so that the next iteration's first
/// try starts near it (forgotten when another model is accepted).
final class DampedStep: StepSource {
    let displayNames = ["damped"]
    let matrix: NewtonMatrix
    let context: SolveContext
    let system: HessianSystem
    /// The last mu that gave a descent step (0 after an iteration that used another model).
    private(set) var damping = 0.0

    init(matrix: NewtonMatrix, context: SolveContext, system: HessianSystem) {
        self.matrix = matrix; self.context = context; self.system = system
    }

    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        guard attempt == 0 else { return nil }
        let k: [Double]
        switch try matrix.matrix(at: state, iteration: iteration) {
        case .stop(let stop): return .stop(stop)
        case .matrix(let m): k = m.values
        }
        let g = state.gradient
        let scale = max(system.meanDiagonal(k), Double.leastNormalMagnitude)
        var mu = max(damping / DampingSchedule.factor, DampingSchedule.initialRelative * scale)
        var step: [Double]? = nil
        var tries = 0
        // A mu that overflows (a mean diagonal near 1e300) ends the search like the try
        // limit does: the model is refused in words, not a CHOLMOD error on an infinite shift.
        while step == nil && tries < DampingSchedule.maxTries && mu.isFinite {
            tries += 1
            do {
                try system.factorize(values: k, shift: mu)
                let sol = try system.solve(g.map { -$0 }, p: state.pieces.p, q: state.pieces.q,
                                           targetSquaredNorm: context.targetSquaredNorm)
                if sol.isPositiveDefinite && dot(g, sol.solution) < 0 { step = sol.solution } else { mu *= DampingSchedule.factor }
            } catch .notPositiveDefinite {
                mu *= DampingSchedule.factor
            } catch {
                throw .wrapping(error, during: "damped step")
            }
        }
        guard let s = step else { return .rejected(ModelRejection(.damped, .noPositiveDefiniteShift(upTo: mu))) }
        damping = mu
        return descentCandidate(.damped, s, gradient: g, damping: mu)
    }

    func accepted(_ step: AcceptedStep) {
        if step.model != .damped { damping = 0 }
    }
}
