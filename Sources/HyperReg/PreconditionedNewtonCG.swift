// The preconditioned Newton-CG step (`--hessian pcg`; issue 14, item 2): conjugate gradients
// on H s = -g with the exact Hessian applied by one-pass products (HessianVectorProduct.swift),
// preconditioned by P = K + U C U^T, K the CHOLMOD factor of a row-sampled `A^T diag(D) A`
// (`SolverOptions.pcgPreconditioner`: row-norm probabilities, RowNormSampling.swift, or the
// sketch's leverage scores; D as the sketch's: delta where positive, else Gauss-Newton; Gauss-Newton
// weights throughout if that sample is not positive definite) and U C U^T the exact rank-2
// part by Woodbury (left out when it makes P indefinite). Each step is the Newton step to an
// Eisenstat-Walker forcing tolerance, so convergence stays superlinear; the factor is re-used
// across iterations while CG needs few iterations.

import Cholmod
import SparseCore

/// Newton-CG with a sampled-Hessian preconditioner, re-used across iterations.
final class PreconditionedNewtonCG: StepSource {
    /// CG iterations per Newton step at most. The CG stops far earlier with a useful
    /// preconditioner (2-5 iterations measured); at the cap the last iterate is taken.
    static let maxIterations = 100
    /// The factor is re-used while the previous step needed at most this many CG iterations,
    /// and refreshed at the next iteration when it needed more. A fresh factor of the sampled
    /// Hessian gives 1-5 CG iterations (measured); a refresh (the sample, its assembly and
    /// the factorisation) costs about one CG iteration at n = 1e6, d = 200, where each CG
    /// iteration is a 1.5-pass product. With 8 (until 2026-11-30) the 1e6 x 200 cosh problem
    /// (w = 0.01) let the counts climb 3, 4, 6, 9 on an ageing factor (32 CG iterations in 8
    /// steps, 0.75 s); with 4 it refreshes twice more and needs 19 (0.59 s); exp problems,
    /// which take 3-4 steps, do not change.
    static let refreshAbove = 4
    /// The forcing term eta = min(maxForcing, ||g|| / ||g0||) (Eisenstat-Walker, the form that
    /// keeps convergence quadratic). With a preconditioner this good a CG iteration (one pass)
    /// is cheaper than a Newton iteration's fixed work (gradient pass, line search: about 3
    /// passes), so the forcing is tight from the start: with 0.1 and ||g|| / ||g0|| the 1e6 x 200
    /// problems took one Newton iteration less than with min(0.5, sqrt(||g|| / ||g0||)) (exp 4 ->
    /// 3, cosh 9 -> 8) for the same total of CG iterations (docs/solver.md, "pcg").
    static let maxForcing = 0.1
    /// The forcing term is at least `toleranceShare * tolerance * ||g0|| / ||g||`: the last
    /// step need not solve more accurately than the stopping test asks (half of it for the
    /// quadratic remainder).
    static let toleranceShare = 0.5

    /// A guess at the gradient norm after the next step, from the norms so far (`previous`,
    /// ||g_0|| first): CG stops at the forcing term, so `||g_k|| ~ eta_{k-1} ||g_{k-1}||` with
    /// eta as above, or the quadratic model's `||g_{k-1}||^3 / ||g_{k-2}||^2` when that is
    /// larger. On the 1e6 x 200 exp problem (norms 1, 6e-2, 3.1e-4, 8e-8, 4.5e-10 relative,
    /// tolerance 1e-8) it gives 9.6e-8 before the third step and 5e-9 before the fourth, the
    /// last; the quadratic model alone gave 8.3e-9 before the third.
    static func predictedGradientNorm(previous: [Double], tolerance: Double) -> Double {
        guard let g = previous.last, let g0 = previous.first, g0 > 0 else { return .infinity }
        let eta = max(min(maxForcing, g / g0), toleranceShare * tolerance * g0 / g)
        let quadratic = Minimizer.predictedGradientNorm(previous: previous, fullStep: true) ?? 0
        return max(eta * g, quadratic)
    }

    let displayNames = ["pcg"]
    let context: SolveContext
    let system: HessianSystem
    /// The preconditioner's sample (`SolverOptions.pcgPreconditioner`): the sketch's weights,
    /// or Gauss-Newton weights.
    let sampled: any HessianWeights, gaussNewton: any HessianWeights
    /// The iteration whose matrix the current factor holds (nil: none, or overwritten by the
    /// damped fall-back, which factors into the same CHOLMOD object).
    private var factoredAt: Int? = nil
    /// CG iterations of the last step.
    private var lastIterations = 0

    init(context: SolveContext, system: HessianSystem, sampler: LeverageSampler) {
        self.context = context; self.system = system
        switch context.options.pcgPreconditioner {
        case .rowNorm:
            // The Gauss-Newton fall-back's sampler re-uses the row norms.
            let rowNorm = RowNormSampledWeights(context: context, system: system) { $0.sketchWeights($1) }
            sampled = rowNorm
            gaussNewton = RowNormSampledWeights(context: context, system: system, sharing: rowNorm) { $0.gaussNewtonWeights($1) }
        case .leverage:
            let beta = context.options.sketch.oversampling(dimension: context.matrix.columnCount)
            sampled = LeverageSampledWeights(context: context, system: system, sampler: sampler, beta: beta) { $0.sketchWeights($1) }
            gaussNewton = LeverageSampledWeights(context: context, system: system, sampler: sampler, beta: beta) { $0.gaussNewtonWeights($1) }
        }
    }

    /// Attempt 0: CG with the current factor (refreshed first when it is missing or CG needed
    /// many iterations last time). Attempt 1, only if the factor was old: refresh and again.
    func candidate(_ attempt: Int, at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        // A factor from an earlier iteration (not one that failed to refresh just now).
        let stale = factoredAt.map { $0 < iteration } ?? false
        switch attempt {
        case 0: break
        case 1 where stale: factoredAt = nil
        default: return nil
        }
        let delta = context.objective.hessianWeights(state.evaluation)
        defer { context.objective.recycle(delta) }
        guard context.problem.communicator.all(delta.allSatisfy(\.isFinite)) else {
            return .stop(.hessianOverflow(context, state, diagonal: delta, iteration: iteration))
        }
        if factoredAt == nil || lastIterations > Self.refreshAbove {
            if let refused = try refresh(at: state, iteration: iteration) { return refused }
        }
        guard let built = factoredAt else { preconditionFailure("refresh sets the factor") }
        let preconditioner: RankTwoPreconditioner
        do {
            preconditioner = try RankTwoPreconditioner(system: system, pieces: state.pieces, targetSquaredNorm: context.targetSquaredNorm)
        } catch {
            throw .wrapping(error, during: "pcg preconditioner")
        }
        var result = try conjugateGradients(state, delta: delta, preconditioner: preconditioner)
        if result.stop == .negativeCurvature || result.stop == .negativeCurvatureFirst {
            // H is indefinite here: Newton-CG on the Gauss-Newton matrix instead (a truncated
            // Steihaug step is kept only if that fails too, which needs round-off).
            let gaussNewtonDelta = context.objective.gaussNewtonWeights(state.evaluation)
            defer { context.objective.recycle(gaussNewtonDelta) }
            let gn = try conjugateGradients(state, delta: gaussNewtonDelta, preconditioner: preconditioner)
            let spent = result.iterations + gn.iterations
            if gn.stop != .negativeCurvature && gn.stop != .negativeCurvatureFirst {
                context.objective.recycle(result.forward)
                result = gn; result.stop = .gaussNewton
            } else {
                context.objective.recycle(gn.forward)
            }
            result.iterations = spent
        }
        lastIterations = result.iterations
        context.notes.cgIterations = result.iterations
        context.notes.preconditionerAge = iteration - built
        context.notes.cgStop = result.stop
        let candidate = descentCandidate(.pcg, result.step, gradient: state.gradient)
        guard case .step(var proposal) = candidate else { return candidate }
        proposal.forward = result.forward
        return .step(proposal)
    }

    func accepted(_ step: AcceptedStep) {
        // The damped fall-back factored its own matrix into the shared CHOLMOD factor.
        if step.model != .pcg { factoredAt = nil }
    }

    /// Samples and factors the preconditioner's K: the sketch's weights, else Gauss-Newton's.
    /// Returns a stop (overflow) or a rejection (neither sample positive definite), nil when
    /// factored.
    private func refresh(at state: IterateState, iteration: Int) throws(SolverError) -> StepCandidate? {
        factoredAt = nil
        var pivot = 0
        for weights in [sampled, gaussNewton] {
            let d = weights.diagonal(at: state)
            defer { context.objective.recycle(d) }
            let k: AssembledMatrix
            do { k = try weights.assemble(d, iteration: iteration) } catch .nonFinite {
                return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration))
            } catch { throw error }
            guard k.values.allSatisfy(\.isFinite) else {
                return .stop(.hessianOverflow(context, state, diagonal: d, iteration: iteration))
            }
            do {
                try system.factorize(values: k.values, shift: 0)
                factoredAt = iteration
                return nil
            } catch .notPositiveDefinite(let column) {
                pivot = column
            } catch {
                throw .wrapping(error, during: "pcg preconditioner")
            }
        }
        return .rejected(ModelRejection(.pcg, .notPositiveDefinite(pivot: pivot)))
    }

    /// Preconditioned CG from s = 0 on H s = -g, stopped by the forcing term, at negative
    /// curvature (Steihaug: the last iterate, or `-P^{-1} g` on the first direction) or at the
    /// cap. Returns s, A s (accumulated from the products' A d), the iterations and why it
    /// stopped.
    private func conjugateGradients(_ state: IterateState, delta: [Double], preconditioner: RankTwoPreconditioner)
        throws(SolverError) -> (step: [Double], forward: [Double], iterations: Int, stop: CGStop) {
        let g = state.gradient, d = g.count, n = state.evaluation.z.count
        let gNorm = state.gradientNorm
        let g0 = max(context.initialGradientNorm, Double.leastNormalMagnitude)
        // No tighter than the tolerance needs: a residual of eta ||g|| leaves about that much
        // gradient after the step, so eta ||g|| <= tolerance g0 / 2 already ends the run.
        let needed = Self.toleranceShare * context.options.tolerance * g0 / max(gNorm, Double.leastNormalMagnitude)
        let eta = min(Self.maxForcing, max(gNorm / g0, needed))
        // A s and each product's A d in pooled n-vectors (the minimiser recycles A s).
        var s = [Double](repeating: 0, count: d), As = context.objective.pool.takeZeroed(n)
        var ad = context.objective.pool.take(n)
        defer { context.objective.recycle(ad) }
        var r = g.map { -$0 }
        var z = try apply(preconditioner, r)
        var direction = z, rz = dot(r, z)
        var iterations = 0
        while iterations < Self.maxIterations {
            let hd = context.timed {
                context.objective.fusedHessianProduct(pieces: state.pieces, delta: delta, direction, forward: &ad)
            }
            context.passes.transpose += 1  // one fused sweep (A d and A^T diag(delta) A d)
            let curvature = dot(direction, hd)
            guard curvature > 0, curvature.isFinite else {
                if iterations == 0 { swap(&As, &ad); return (direction, As, 1, .negativeCurvatureFirst) }
                return (s, As, iterations, .negativeCurvature)
            }
            iterations += 1
            let a = rz / curvature
            for j in 0..<d { s[j] += a * direction[j]; r[j] -= a * hd[j] }
            accumulate(&As, a, ad)
            if norm2(r) <= eta * gNorm { return (s, As, iterations, .converged) }
            z = try apply(preconditioner, r)
            let rzNext = dot(r, z)
            let b = rzNext / rz
            for j in 0..<d { direction[j] = z[j] + b * direction[j] }
            rz = rzNext
        }
        return (s, As, iterations, .iterationLimit)
    }

    /// `As += a * ad`, in parallel vector chunks (element-wise: the same bits as a serial loop).
    private func accumulate(_ As: inout [Double], _ a: Double, _ ad: [Double]) {
        let part = RowPartition(rowCount: As.count, maxChunks: 64, minimumRows: 1 << 14)
        As.withUnsafeMutableBufferPointer { sb in
            ad.withUnsafeBufferPointer { db in
                let s = SharedBuffer(sb), d = SharedReadBuffer(db)
                Parallelism.forEachChunk(part.count) { ch in
                    for i in part.rows(ch) { s.buffer[i] += a * d.buffer[i] }
                }
            }
        }
    }

    private func apply(_ preconditioner: RankTwoPreconditioner, _ r: [Double]) throws(SolverError) -> [Double] {
        do { return try preconditioner.apply(r, system: system) } catch { throw .wrapping(error, during: "pcg preconditioner") }
    }
}

/// `P^{-1} r` for P = K + U C U^T (U = [p q], the rank-2 part of H) on the current factor of K,
/// by Woodbury with `K^{-1} p`, `K^{-1} q` and S formed once per Newton iteration (one solve per
/// application); P = K when the rank-2 part makes P indefinite (det S >= 0, HessianSystem.swift).
struct RankTwoPreconditioner {
    let kp: [Double], kq: [Double], p: [Double], q: [Double]
    let s11: Double, s12: Double, s22: Double, det: Double
    /// False when P = K alone (the rank-2 part would make P indefinite).
    let rankTwo: Bool

    init(system: HessianSystem, pieces: GradientPieces, targetSquaredNorm bb: Double) throws(CholmodError) {
        p = pieces.p; q = pieces.q
        kp = try system.solvePlain(p); kq = try system.solvePlain(q)
        s11 = dot(p, kp)
        s12 = -1 + 0.5 * (dot(p, kq) + dot(q, kp))
        s22 = -bb + dot(q, kq)
        det = s11 * s22 - s12 * s12
        rankTwo = det < 0 && det.isFinite
    }

    func apply(_ r: [Double], system: HessianSystem) throws(CholmodError) -> [Double] {
        var kr = try system.solvePlain(r)
        guard rankTwo else { return kr }
        let y1 = dot(p, kr), y2 = dot(q, kr)
        let eta1 = (s22 * y1 - s12 * y2) / det
        let eta2 = (s11 * y2 - s12 * y1) / det
        for j in 0..<kr.count { kr[j] -= kp[j] * eta1 + kq[j] * eta2 }
        return kr
    }
}
