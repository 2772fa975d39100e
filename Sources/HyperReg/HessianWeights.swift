// Hessian weights: the row weights D of the Newton matrix K = A^T diag(D) A and how K is
// assembled, over all rows or over a leverage-score sample (docs/math.md, "Newton system" and
// "Sketched Hessian"). One factory makes them from the `HessianStrategy`.

#if canImport(Glibc)
import Glibc
#endif
import Cholmod
import SparseCore

/// An assembled Newton matrix (the packed upper triangle of the analysed pattern).
struct AssembledMatrix {
    var values: [Double]
}

/// The weights D of `A^T diag(D) A` at an iterate, and its assembly.
protocol HessianWeights: AnyObject {
    /// D at the iterate.
    func diagonal(at state: IterateState) -> [Double]
    /// `A^T diag(d) A` over all rows, or over a sample (writing its size to the iteration's
    /// notes). Throws `SolverError.nonFinite` when d cannot be sampled (overflow).
    func assemble(_ d: [Double], iteration: Int) throws(SolverError) -> AssembledMatrix
}

/// `A^T diag(D) A` over all rows, D from `weights`: the exact Hessian's `delta` (docs/math.md,
/// may be negative) or the Gauss-Newton weights `v o v + w o w` (never negative).
final class AllRowsWeights: HessianWeights {
    let context: SolveContext, system: HessianSystem
    private let weights: (Objective, Evaluation) -> [Double]
    /// The weights are the exact Hessian's delta (so an `IterateState.exactHessian` is this
    /// matrix).
    let isExactDelta: Bool
    init(context: SolveContext, system: HessianSystem, isExactDelta: Bool = false, weights: @escaping (Objective, Evaluation) -> [Double]) {
        self.context = context; self.system = system; self.isExactDelta = isExactDelta; self.weights = weights
    }
    /// The exact Hessian's weights `delta`.
    static func exact(context: SolveContext, system: HessianSystem) -> AllRowsWeights {
        AllRowsWeights(context: context, system: system, isExactDelta: true) { $0.hessianWeights($1) }
    }
    /// The Gauss-Newton weights.
    static func gaussNewton(context: SolveContext, system: HessianSystem) -> AllRowsWeights {
        AllRowsWeights(context: context, system: system) { $0.gaussNewtonWeights($1) }
    }
    func diagonal(at state: IterateState) -> [Double] { weights(context.objective, state.evaluation) }
    func assemble(_ d: [Double], iteration: Int) throws(SolverError) -> AssembledMatrix {
        AssembledMatrix(values: system.assemble(weights: d))
    }
}

/// A leverage-score row sample of `A^T diag(D) A` (`sketch`: D = delta where positive, else the
/// Gauss-Newton weight; `paper`: D = delta, which must then be positive). Owns the sampler, the
/// scores of the last estimate (re-used, rescaled, while D changes little) and beta.
final class LeverageSampledWeights: HessianWeights {
    let context: SolveContext, system: HessianSystem
    let sampler: LeverageSampler
    /// Oversampling: row i is kept with probability `min(1, beta tau_i)`.
    let beta: Double
    private let weights: (Objective, Evaluation) -> [Double]
    private var scores: LeverageScores? = nil

    init(context: SolveContext, system: HessianSystem, sampler: LeverageSampler, beta: Double,
         weights: @escaping (Objective, Evaluation) -> [Double]) {
        self.context = context; self.system = system; self.sampler = sampler; self.beta = beta; self.weights = weights
    }

    func diagonal(at state: IterateState) -> [Double] { weights(context.objective, state.evaluation) }

    func assemble(_ d: [Double], iteration: Int) throws(SolverError) -> AssembledMatrix {
        let t0 = context.clock.now
        var reused = false
        if let old = scores, let re = sampler.rescale(old, to: d) {
            scores = re; reused = true; context.leverageReuses += 1
        } else {
            let fresh = try sampler.estimate(diagonal: d, salt: UInt64(iteration))
            scores = fresh
            context.leverageEstimates += 1
            context.passes.leverage += 2
        }
        guard let current = scores else { preconditionFailure("scores were just set") }
        let pick = sampler.sample(current, beta: beta, salt: UInt64(iteration))
        context.timings.sketch += seconds(context.clock.now - t0)
        let values = system.assemble(weights: pick.weights, rows: pick.rows)
        context.notes.rowsKept = context.matrix.communicator.sum(pick.rows.count)
        context.notes.leverageReused = reused
        return AssembledMatrix(values: values)
    }
}

/// Makes the Hessian weights of a strategy: the primary model's and the fall-backs' (the same
/// object when the fall-backs re-use the primary matrix, as the sketch's do).
enum HessianWeightsFactory {
    static func make(for strategy: HessianStrategy, context: SolveContext, system: HessianSystem,
                     sampler: LeverageSampler, paperIterations: Int) -> (primary: any HessianWeights, fallback: any HessianWeights) {
        let sketch = context.options.sketch, d = context.matrix.columnCount
        switch strategy {
        case .paper:
            // Algorithm 1: per-sample failure probability delta / T over its T iterations.
            let beta = sketch.oversampling(dimension: d, delta: sketch.delta / Double(paperIterations))
            let sample = LeverageSampledWeights(context: context, system: system, sampler: sampler, beta: beta) { $0.hessianWeights($1) }
            return (sample, sample)
        case .sketch:
            let sample = LeverageSampledWeights(context: context, system: system, sampler: sampler,
                                                beta: sketch.oversampling(dimension: d)) { $0.sketchWeights($1) }
            return (sample, sample)
        case .pcg:
            // Only its damped fall-back assembles through `NewtonMatrix` (Gauss-Newton, all
            // rows, as exact's); the preconditioner's sample is the step source's own.
            let gaussNewton = AllRowsWeights.gaussNewton(context: context, system: system)
            return (gaussNewton, gaussNewton)
        case .exact, .automatic:
            return (AllRowsWeights.exact(context: context, system: system), AllRowsWeights.gaussNewton(context: context, system: system))
        }
    }
}

/// The Newton matrix of one kind of weights, assembled at most once per iteration however many
/// step sources factor it (Gauss-Newton and damping share one assembly; the sketch, its
/// diagonal-only variant and damping share one sample). A freshly assembled matrix whose
/// weights or entries overflow ends the run with `nonFinite`: it is not a failed model to fall
/// back from.
final class NewtonMatrix {
    let weights: any HessianWeights
    let context: SolveContext
    private var made: (iteration: Int, matrix: AssembledMatrix)? = nil

    init(_ weights: any HessianWeights, context: SolveContext) { self.weights = weights; self.context = context }

    enum Outcome {
        case matrix(AssembledMatrix)
        case stop(MinimizerStop)
    }

    func matrix(at state: IterateState, iteration: Int) throws(SolverError) -> Outcome {
        if let m = made, m.iteration == iteration { return .matrix(m.matrix) }
        if let pre = state.exactHessian, (weights as? AllRowsWeights)?.isExactDelta == true {
            // Assembled in the sweep of this iterate's gradient (the same bits).
            let k = AssembledMatrix(values: pre.values)
            made = (iteration, k)
            guard pre.nonFiniteWeights == 0 && k.values.allSatisfy(\.isFinite) else {
                return .stop(.hessianOverflow(context, state, diagonal: weights.diagonal(at: state), iteration: iteration))
            }
            return .matrix(k)
        }
        let d = weights.diagonal(at: state)
        let k: AssembledMatrix
        do { k = try weights.assemble(d, iteration: iteration) } catch .nonFinite {
            return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration))
        } catch { throw error }
        made = (iteration, k)
        // Over every rank in a distributed run (k is summed already; d is this rank's rows).
        guard context.matrix.communicator.all(d.allSatisfy(\.isFinite)) && k.values.allSatisfy(\.isFinite) else {
            return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration))
        }
        context.objective.recycle(d)
        return .matrix(k)
    }
}
