// The exact Newton driver (issue 2): CHOLMOD factor of A^T diag(delta) A, Woodbury for
// the rank-2 part, Armijo backtracking on z(t) = z + t A s (no pass over A per trial),
// fall-backs Gauss-Newton then damping, and an honest stopping rule.

import Cholmod
import SparseCore

/// Settings of `NewtonSolver`. Every field has a documented default; `validate()` checks them.
public struct SolverOptions: Sendable {
    /// Stop when `||g(x_t)||_2 <= tolerance * ||g(x_0)||_2` (relative gradient norm,
    /// Euclidean). Default 1e-10.
    public var tolerance: Double = 1e-10
    /// Stop after this many Newton iterations. Default 100.
    public var maxIterations: Int = 100
    /// Armijo constant: accept step length t when `L(x + t s) <= L(x) + armijo * t * <g, s>`.
    /// Default 1e-4.
    public var armijo: Double = 1e-4
    /// Backtracking halves t at most this many times per model. Default 40.
    public var maxBacktracks: Int = 40
    /// Round-off regime: when the predicted decrease `-<g, s>` is below
    /// `roundoffFactor * eps * max(1, |L|)`, a decrease of L can no longer be seen in
    /// Double arithmetic; the full step is then accepted if it does not raise L by more than
    /// that noise, and kept only if it at least halves `||g||` (a Newton step in its quadratic
    /// regime does far better; steps among round-off do not). Default 100.
    public var roundoffFactor: Double = 100
    /// Called with the start point's record (iteration 0) and after every iteration; return
    /// `false` to stop (status `stopped_by_callback`). Default none.
    public var onIteration: (@Sendable (IterationRecord) -> Bool)? = nil

    /// The defaults.
    public init() {}

    /// Checks every field.
    /// - Throws: `SolverError.invalidOptions` naming the field.
    public func validate() throws(SolverError) {
        guard tolerance.isFinite, tolerance >= 0 else { throw .invalidOptions("tolerance must be finite and >= 0, got \(tolerance)") }
        guard maxIterations >= 0 else { throw .invalidOptions("maxIterations must be >= 0, got \(maxIterations)") }
        guard armijo > 0, armijo < 0.5 else { throw .invalidOptions("armijo must be in (0, 0.5), got \(armijo)") }
        guard maxBacktracks >= 0 else { throw .invalidOptions("maxBacktracks must be >= 0, got \(maxBacktracks)") }
        guard roundoffFactor.isFinite, roundoffFactor >= 0 else { throw .invalidOptions("roundoffFactor must be finite and >= 0") }
    }
}

/// Why the solver stopped.
public enum Termination: String, Sendable, Codable {
    /// The relative gradient norm reached the tolerance.
    case converged
    /// `maxIterations` iterations were used first.
    case iterationLimit = "iteration_limit"
    /// No step could make progress any more (round-off floor or failed line search); the
    /// best point is returned and the message says how far it got.
    case stalled
    /// The start point is already stationary (g(x0) = 0), e.g. x0 = 0 for cosh and sinh.
    case stationaryStart = "stationary_start"
    /// The problem has no minimiser along the iterates' direction (exp with w = 0 driving
    /// u(Ax) to 0); the message says so.
    case degenerate
    /// The per-iteration callback asked to stop.
    case stoppedByCallback = "stopped_by_callback"
}

/// Which matrix the Newton step of an iteration used.
public enum StepModel: String, Sendable, Codable {
    /// The true Hessian `A^T diag(delta) A + rank-2 part`.
    case exact
    /// The Gauss-Newton matrix `A^T diag(v o v + w o w) A + rank-2 part` (always PSD).
    case gaussNewton = "gauss_newton"
    /// Gauss-Newton plus `mu I` (Levenberg-Marquardt damping).
    case damped
}

/// One row of the per-iteration trace.
public struct IterationRecord: Sendable, Codable {
    /// Iteration number (0 = the start point).
    public var iteration: Int
    /// L(x_t).
    public var loss: Double
    /// ||g(x_t)||_2.
    public var gradientNorm: Double
    /// ||g(x_t)||_2 / ||g(x_0)||_2.
    public var relativeGradientNorm: Double
    /// The accepted step length t (0 at iteration 0).
    public var stepLength: Double
    /// ||x_t - x_{t-1}||_2.
    public var stepNorm: Double
    /// The matrix the step used (nil at iteration 0).
    public var model: StepModel?
    /// The damping mu when `model == .damped`, else 0.
    public var damping: Double
    /// Backtracking halvings in the accepted model.
    public var backtracks: Int
    /// Models tried and rejected before the accepted one (factorisation failed, not
    /// positive definite, or no descent).
    public var rejectedModels: [String]
    /// Seconds since the solve started (input reading excluded).
    public var seconds: Double
}

/// Errors that stop the solver before it can return a result.
public enum SolverError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An option is out of range.
    case invalidOptions(String)
    /// The data does not form a valid problem.
    case invalidProblem(String)
    /// u(A x0) overflows: the start is unusable.
    case overflowAtStart(String)
    /// CHOLMOD failed in a way no fall-back can recover from (out of memory, too large).
    case factorization(String)

    public var description: String {
        switch self {
        case .invalidOptions(let m): return "invalid options: \(m)"
        case .invalidProblem(let m): return "invalid problem: \(m)"
        case .overflowAtStart(let m): return "overflow at the start point: \(m)"
        case .factorization(let m): return "factorization failed: \(m)"
        }
    }
}

/// Wall-clock seconds spent in each part of a solve (input reading excluded).
public struct SolveTimings: Sendable, Codable {
    /// The whole solve.
    public var total = 0.0
    /// Forward and transpose streaming passes and vector passes.
    public var passes = 0.0
    /// Assembling A^T diag(.) A.
    public var assembly = 0.0
    /// CHOLMOD symbolic analysis (once).
    public var analysis = 0.0
    /// CHOLMOD numeric factorisations.
    public var factorization = 0.0
    /// Triangular solves and Woodbury.
    public var solve = 0.0
}

/// What a solve returns.
public struct SolverResult: Sendable {
    /// Why it stopped.
    public var termination: Termination
    /// A sentence explaining the termination (what was reached, what to do).
    public var message: String
    /// The solution (never worse, in loss, than the start).
    public var x: [Double]
    /// L(x0).
    public var initialLoss: Double
    /// L(x), recomputed exactly from x.
    public var finalLoss: Double
    /// ||g(x0)||_2.
    public var initialGradientNorm: Double
    /// ||g(x)||_2, recomputed exactly from x.
    public var finalGradientNorm: Double
    /// Newton iterations performed.
    public var iterations: Int
    /// One record per iteration, starting with iteration 0.
    public var trace: [IterationRecord]
    /// Where the time went.
    public var timings: SolveTimings
    /// Streaming passes over A.
    public var passes: PassCounter
    /// Warnings about the solution (degenerate minimisers and the like), in words.
    public var warnings: [String]
    /// Entries of the upper triangle of A^T A's pattern (the Hessian CHOLMOD factors).
    public var hessianPatternEntries: Int
    /// Whether CHOLMOD chose a supernodal factorisation.
    public var supernodal: Bool

    /// ||g(x)|| / ||g(x0)||.
    public var relativeGradientNorm: Double {
        initialGradientNorm > 0 ? finalGradientNorm / initialGradientNorm : 0
    }
    /// True when x can be used as an answer (finite; converged or at least improved).
    public var isSolutionUsable: Bool {
        finalLoss.isFinite && x.allSatisfy(\.isFinite) && termination != .degenerate
    }
}

/// Exact Newton's method with globalisation for a `Problem` (issue 2).
public struct NewtonSolver {
    /// Settings.
    public var options: SolverOptions

    /// A solver with the given options.
    public init(options: SolverOptions = SolverOptions()) { self.options = options }

    /// Solves from `x0`.
    ///
    /// Each iteration: one transpose pass (g, p, q together), one assembly of
    /// A^T diag(delta) A, a CHOLMOD numeric factorisation, one forward pass A s; trial
    /// points of the line search cost vector work only.
    ///
    /// - Throws: `SolverError` for bad options, a start that overflows, or an
    ///   unrecoverable CHOLMOD failure.
    public func solve(_ problem: Problem, from x0: [Double]) throws(SolverError) -> SolverResult {
        try options.validate()
        guard x0.count == problem.columnCount else {
            throw .invalidProblem("x0 has \(x0.count) entries but A has \(problem.columnCount) columns")
        }
        if let j = x0.firstIndex(where: { !$0.isFinite }) { throw .invalidProblem("x0[\(j + 1)] = \(x0[j]) is not finite") }
        let clock = ContinuousClock()
        let started = clock.now
        var timings = SolveTimings()
        var passes = PassCounter()
        let objective = Objective(problem: problem)
        let a = problem.matrix
        let bb = problem.targetSquaredNorm
        func elapsed() -> Double { seconds(clock.now - started) }
        func timed<T>(_ body: () -> T) -> T {
            let t0 = clock.now
            let r = body()
            timings.passes += seconds(clock.now - t0)
            return r
        }

        var x = x0
        var e = timed { objective.evaluate(x) }
        passes.forward += 1
        guard e.isFinite else {
            throw .overflowAtStart(overflowMessage(problem.function, e, what: "u(A x0)"))
        }
        var pieces = timed { objective.gradientPieces(e) }
        passes.transpose += 1
        var gNorm = norm2(pieces.gradient)
        let g0 = gNorm
        let loss0 = e.loss
        var trace = [IterationRecord(iteration: 0, loss: e.loss, gradientNorm: gNorm, relativeGradientNorm: 1,
                                     stepLength: 0, stepNorm: 0, model: nil, damping: 0, backtracks: 0,
                                     rejectedModels: [], seconds: elapsed())]
        var warnings: [String] = []

        func result(_ t: Termination, _ message: String, system: HessianSystem?) -> SolverResult {
            // Report the loss and gradient recomputed exactly from x (z was updated incrementally).
            var fx = x, fe = e, fg = gNorm
            if trace.count > 1 {
                fe = timed { objective.evaluate(x) }
                fg = norm2(timed { objective.gradient(fe) })
                passes.forward += 1
                passes.transpose += 1
            }
            if !(fe.loss <= loss0) {  // never worse than the start
                fx = x0; fe = timed { objective.evaluate(x0) }; fg = g0
                warnings.append("the final point was not better than x0, so x0 is returned")
            }
            if let s = system {
                timings.assembly = s.assembleSeconds
                timings.factorization = s.factorSeconds
                timings.solve = s.solveSeconds
                passes.assembly = s.assemblyCount
            }
            timings.total = elapsed()
            warnings += degenerateWarnings(problem, fx, fe)
            var text = message
            if trace.count > 1 { text += " (recomputed from the returned x: relative gradient norm \(fmt(fg / g0)))" }
            return SolverResult(termination: t, message: text, x: fx, initialLoss: loss0, finalLoss: fe.loss,
                                initialGradientNorm: g0, finalGradientNorm: fg, iterations: trace.count - 1,
                                trace: trace, timings: timings, passes: passes, warnings: warnings,
                                hessianPatternEntries: system?.pattern.entryCount ?? 0,
                                supernodal: system?.factor.isSupernodal ?? false)
        }

        if let callback = options.onIteration, !callback(trace[0]) {
            return result(.stoppedByCallback, "stopped by the iteration callback at the start point", system: nil)
        }
        if g0 == 0 {
            return result(.stationaryStart, stationaryStartMessage(problem, x0), system: nil)
        }
        if options.tolerance >= 1 || gNorm <= options.tolerance * g0 && options.maxIterations == 0 {
            return result(.converged, "the start point already satisfies the tolerance", system: nil)
        }

        // Symbolic analysis once.
        let analysisStart = clock.now
        let system: HessianSystem
        do {
            let context = try CholmodContext()
            system = try HessianSystem(matrix: a, context: context)
        } catch {
            throw .factorization("could not set up CHOLMOD for A^T A (d = \(problem.columnCount)): \(error)")
        }
        timings.analysis = seconds(clock.now - analysisStart)
        let alpha0 = e.alpha
        var damping = 0.0

        var iteration = 0
        while true {
            if gNorm <= options.tolerance * g0 {
                // exp with w = 0: the gradient scales like u^2, so shrinking u satisfies a
                // relative tolerance of 1e-10 once u has fallen ~1e5-fold, long before the
                // 1e-8 alpha test below. A real solution fits b after normalisation
                // (L / alpha^2 = 0.5 ||u/alpha - b||^2 small); a collapse of u does not.
                if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, e.alpha < 1e-3 * alpha0,
                   (2 * e.loss).squareRoot() > 1e-6 * e.alpha * bb.squareRoot() {
                    return result(.degenerate, "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(e.alpha)) while u / sum(u) does not fit b), so L tends to 0 without a minimiser; the small gradient is not convergence. Use a positive weight w.", system: system)
                }
                return result(.converged, "relative gradient norm \(fmt(gNorm / g0)) <= tolerance \(fmt(options.tolerance)) at iteration \(iteration)", system: system)
            }
            if iteration >= options.maxIterations {
                return result(.iterationLimit, "stopped after \(iteration) iterations at relative gradient norm \(fmt(gNorm / g0)) (tolerance \(fmt(options.tolerance)))", system: system)
            }
            iteration += 1
            let g = pieces.gradient
            var rejected: [String] = []
            var accepted: (x: [Double], e: Evaluation, t: Double, model: StepModel, backtracks: Int, mu: Double, roundoff: Bool)? = nil

            let models: [StepModel] = [.exact, .gaussNewton, .damped]
            var gaussNewtonMatrix: [Double]? = nil  // assembled once, shared by gaussNewton and damped
            modelLoop: for model in models {
                // 1. Factor K (+ mu I for damping), solve the Newton system.
                let k: [Double]
                if model == .exact {
                    k = system.assemble(weights: objective.hessianWeights(e))
                } else if let cached = gaussNewtonMatrix {
                    k = cached
                } else {
                    k = system.assemble(weights: objective.gaussNewtonWeights(e))
                    gaussNewtonMatrix = k
                }
                var mu = 0.0
                var step: [Double]? = nil
                if model != .damped {
                    do {
                        try system.factorize(values: k, shift: 0)
                        let sol = try system.solve(g.map { -$0 }, p: pieces.p, q: pieces.q, targetSquaredNorm: bb)
                        if !sol.isPositiveDefinite { rejected.append("\(model.rawValue): indefinite (rank-2 part)"); continue modelLoop }
                        step = sol.solution
                    } catch .notPositiveDefinite(let column) {
                        rejected.append("\(model.rawValue): not positive definite (CHOLMOD pivot \(column))")
                        continue modelLoop
                    } catch {
                        throw .factorization(String(describing: error))
                    }
                } else {
                    let scale = max(system.meanDiagonal(k), Double.leastNormalMagnitude)
                    mu = max(damping / 10, 1e-8 * scale)
                    var tries = 0
                    while step == nil && tries < 30 {
                        tries += 1
                        do {
                            try system.factorize(values: k, shift: mu)
                            let sol = try system.solve(g.map { -$0 }, p: pieces.p, q: pieces.q, targetSquaredNorm: bb)
                            if sol.isPositiveDefinite && dot(g, sol.solution) < 0 { step = sol.solution } else { mu *= 10 }
                        } catch .notPositiveDefinite {
                            mu *= 10
                        } catch {
                            throw .factorization(String(describing: error))
                        }
                    }
                    guard step != nil else { rejected.append("damped: no positive definite shift up to \(fmt(mu))"); break modelLoop }
                    damping = mu
                }
                guard let s = step, s.allSatisfy(\.isFinite) else { rejected.append("\(model.rawValue): non-finite step"); continue modelLoop }
                let slope = dot(g, s)
                guard slope < 0 else { rejected.append("\(model.rawValue): not a descent direction"); continue modelLoop }

                // 2. Line search along z(t) = z + t A s.
                let As = timed { a.multiply(s) }
                passes.forward += 1
                let noise = options.roundoffFactor * Double.ulpOfOne * max(1, Swift.abs(e.loss))
                var t = 1.0
                for backtrack in 0...options.maxBacktracks {
                    let zt = zip(e.z, As).map { $0 + t * $1 }
                    let et = timed { objective.evaluate(z: zt) }
                    if et.isFinite {
                        if et.loss <= e.loss + options.armijo * t * slope {
                            accepted = (zip(x, s).map { $0 + t * $1 }, et, t, model, backtrack, mu, false)
                            break modelLoop
                        }
                        if t == 1, -slope <= noise, et.loss <= e.loss + noise {
                            accepted = (zip(x, s).map { $0 + $1 }, et, 1, model, 0, mu, true)
                            break modelLoop
                        }
                    }
                    t *= 0.5
                }
                rejected.append("\(model.rawValue): line search found no decrease in \(options.maxBacktracks) halvings")
            }

            guard let step = accepted else {
                return result(.stalled, "no model (exact, Gauss-Newton, damped) gave an acceptable step at iteration \(iteration): \(rejected.joined(separator: "; ")); relative gradient norm \(fmt(gNorm / g0))", system: system)
            }
            let newPieces = timed { objective.gradientPieces(step.e) }
            passes.transpose += 1
            let newNorm = norm2(newPieces.gradient)
            if step.roundoff && !(newNorm <= 0.5 * gNorm) {
                return result(.stalled, "reached the round-off floor: the predicted decrease is below Double precision of L = \(fmt(e.loss)) and a full step no longer halves the gradient norm; relative gradient norm \(fmt(gNorm / g0)) (tolerance \(fmt(options.tolerance)) is below what the arithmetic allows here)", system: system)
            }
            let stepNorm = norm2(zip(step.x, x).map { $0 - $1 })
            x = step.x
            e = step.e
            pieces = newPieces
            gNorm = newNorm
            if step.model != .damped { damping = 0 }
            let record = IterationRecord(iteration: iteration, loss: e.loss, gradientNorm: gNorm, relativeGradientNorm: gNorm / g0,
                                         stepLength: step.t, stepNorm: stepNorm, model: step.model, damping: step.mu,
                                         backtracks: step.backtracks, rejectedModels: rejected, seconds: elapsed())
            trace.append(record)
            if problem.function == .exp, problem.hasZeroWeights, alpha0 > 0, e.alpha < 1e-8 * alpha0 {
                return result(.degenerate, "exp with w = 0 is degenerate here: the iterates drive u(Ax) towards 0 (sum of u fell from \(fmt(alpha0)) to \(fmt(e.alpha))), so L tends to 0 without a minimiser. Use a positive weight w.", system: system)
            }
            if let callback = options.onIteration, !callback(record) {
                return result(.stoppedByCallback, "stopped by the iteration callback after \(iteration) iterations", system: system)
            }
        }
    }
}

/// The words for a stationary start point.
func stationaryStartMessage(_ problem: Problem, _ x0: [Double]) -> String {
    let isZero = x0.allSatisfy { $0 == 0 }
    switch (problem.function, isZero) {
    case (.cosh, true):
        return "x0 = 0 is a stationary point for cosh (u'(0) = sinh(0) = 0, so the gradient vanishes): Newton cannot move. Start elsewhere (the default start, or --x0)."
    case (.sinh, true):
        return "x0 = 0 is the trivial global minimiser of sinh (u(0) = 0 gives L(0) = 0 for every A, b, w): it is a stationary point, not a useful answer. Start elsewhere (the default start, or --x0)."
    default:
        return "the gradient at x0 is exactly zero: x0 is a stationary point."
    }
}

/// Warnings about degenerate solutions (docs/math.md, "Degenerate cases").
func degenerateWarnings(_ problem: Problem, _ x: [Double], _ e: Evaluation) -> [String] {
    var out: [String] = []
    if problem.function == .sinh, e.maxAbsZ < 1e-6 {
        out.append("the solution is (numerically) x = 0 with A x ~ 0, the trivial minimiser of sinh; it carries no information about b")
    }
    return out
}

/// A message for an overflowing evaluation.
func overflowMessage(_ kind: FunctionKind, _ e: Evaluation, what: String) -> String {
    "\(what) overflows: |(A x)_i| reaches \(fmt(e.maxAbsZ)) at row \(e.maxAbsZRow + 1), but \(kind.rawValue) overflows Double above \(fmt(kind.overflowThreshold)) (and the loss squares it). Scale A or x0 down."
}

/// Compact number formatting for messages.
func fmt(_ v: Double) -> String {
    if v == 0 || !v.isFinite { return "\(v)" }
    let a = Swift.abs(v)
    if a >= 1e-3 && a < 1e6 {
        let r = (v * 1e4).rounded() / 1e4
        return "\(r)"
    }
    // Scientific with 3 significant digits.
    var exponent = 0
    var m = a
    while m >= 10 { m /= 10; exponent += 1 }
    while m < 1 { m *= 10; exponent -= 1 }
    let mant = (m * 100).rounded() / 100
    return "\(v < 0 ? "-" : "")\(mant)e\(exponent)"
}
