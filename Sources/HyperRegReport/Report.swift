// HyperRegReport: the JSON report of a solve, shared by the command line (`hyperreg solve
// --report`) and the C ABI (`hyperreg_result_report`, include/hyperreg.h), so both write the
// same keys from the same code.

import Foundation
import HyperReg
import SparseCore

/// The package version printed by `hyperreg --version`, returned by `hyperreg_version()` and
/// written in reports.
public enum HyperRegVersion {
    /// The version, "major.minor.patch": the library's (`HyperRegPackage.version`).
    public static let string = HyperRegPackage.version
}

/// The JSON report of `hyperreg solve`. Keys are a public interface (docs/cli.md): add,
/// never rename. Non-finite numbers are written as null.
public struct SolveReport: Encodable {
    /// Where the inputs came from (file paths, or "(memory)" for the C ABI).
    public struct Inputs: Encodable {
        var matrix: String
        var target: String
        var weights: String?
        var weight: Double?
        var x0: String?
        var reference: String?
        /// The sources of A, b, w (or the uniform weight), x0 and the reference.
        public init(matrix: String, target: String, weights: String?, weight: Double?, x0: String?, reference: String?) {
            self.matrix = matrix; self.target = target; self.weights = weights; self.weight = weight; self.x0 = x0; self.reference = reference
        }
    }
    struct SketchInfo: Encodable {
        var epsilon: Double
        var delta: Double
        var oversampling: Double
        var embedding_rows: Int
        var embedding_nonzeros: Int
        var gaussian_columns: Int
        var seed: UInt64
        var reuse_ratio: Double
        var safety_factor: Double
    }
    struct IterationTimesRow: Encodable {
        var passes: Double
        var sketch: Double
        var assembly: Double
        var factorization: Double
        var solve: Double
    }
    struct ProblemInfo: Encodable {
        var rows: Int
        var columns: Int
        var nonzeros: Int
        var function: String
    }
    struct Timings: Encodable {
        var start_point: Double
        var passes: Double
        var assembly: Double
        var analysis: Double
        var factorization: Double
        var solve: Double
        var sketch: Double
        var solver_total: Double
    }
    struct Passes: Encodable {
        var forward: Int
        var transpose: Int
        var assembly: Int
        var leverage: Int
        var sampled_assembly: Int
        var dense_block_assembly: Int
        /// The rank check of a rank-deficient A (one dense Gram pass), counted in `total`.
        var rank_check: Int
        var total: Int
    }
    /// `non_finite_cause`: the input entry blamed for a non_finite status (1-based indices).
    struct NonFiniteCauseInfo: Encodable {
        /// "A", "b", "w", "x0", or "arithmetic".
        var input: String
        var row: Int?
        var column: Int?
        var index: Int?
        var value: Double?
        /// The entry in words.
        var description: String
        init(_ c: NonFiniteCause) {
            input = c.input ?? "arithmetic"
            description = c.entry
            switch c {
            case .matrix(let r, let col, let v): row = r; column = col; value = v
            case .target(let i, let v), .weights(let i, let v), .start(let i, let v): index = i; value = v
            case .arithmetic: break
            }
        }
    }
    struct TraceRow: Encodable {
        var iteration: Int
        var loss: Double?
        var gradient_norm: Double?
        var relative_gradient_norm: Double?
        var step_length: Double?
        var step_norm: Double?
        var model: String?
        var damping: Double?
        var backtracks: Int
        var rejected_models: [String]
        var seconds: Double
        var iteration_seconds: Double
        var iteration_passes: Double?
        var rows_kept: Int?
        var leverage_reused: Bool?
        var refinements: Int?
        var refinement_residual: Double?
        var cg_iterations: Int?
        var preconditioner_age: Int?
        var cg_stop: String?
        var times: IterationTimesRow
        var reference_distance: Double?
        var contraction: Double?
        /// Distributed runs: rank 0's seconds inside collectives in this iteration (waits for
        /// slower ranks included) and the bytes it sent; absent on one process.
        var communication_seconds: Double?
        var communication_bytes: Int?
    }
    /// `communication`: what rank 0 spent in collectives over the whole run (start point and
    /// iterations; reading excluded).
    struct CommunicationInfo: Encodable {
        var calls: Int
        var bytes_sent: Int
        var seconds: Double
    }

    var status: String
    var message: String
    var converged: Bool
    /// x is a usable answer (`SolverResult.isSolutionUsable`): true for converged,
    /// converged_at_roundoff, stalled, iteration_limit and stopped_by_callback with a finite x;
    /// the exit code 0.
    var success: Bool
    /// `||u(Ax)/alpha - b||_1` at x (`SolverResult.fitL1`).
    var fit_l1: Double?
    var iterations: Int
    var initial_loss: Double?
    var final_loss: Double?
    var initial_gradient_norm: Double?
    var final_gradient_norm: Double?
    var relative_gradient_norm: Double?
    var tolerance: Double
    var max_iterations: Int
    var stopping_rule: String
    var seconds: Double
    var read_seconds: Double
    var timings: Timings
    var passes: Passes
    var start: String
    var seed: UInt64
    var problem: ProblemInfo
    var inputs: Inputs
    var hessian_pattern_entries: Int
    var supernodal: Bool
    var warnings: [String]
    var threads: Int
    /// MPI ranks the rows were split over (1 on one process); `threads` is per rank.
    var ranks: Int
    /// Distributed runs only (absent on one process).
    var communication: CommunicationInfo?
    var version: String
    var hessian: String
    var hessian_reason: String
    var sketch: SketchInfo?
    var leverage_estimates: Int
    var leverage_reuses: Int
    var pass_seconds: Double?
    var reference_source: String?
    var predicted_iterations: Double?
    var non_finite_cause: NonFiniteCauseInfo?
    /// The numerical rank of A when established (`SolverResult.numericalRank`), else null.
    var numerical_rank: Int?
    /// A was found rank-deficient: x is the minimum-norm minimiser.
    var rank_deficient: Bool
    var trace: [TraceRow]

    /// The report of `r`, a solve of `p`; `seconds` covers the start point and the solve,
    /// `readSeconds` what came before (reading files, or building the problem in memory).
    public init(result r: SolverResult, problem p: Problem, inputs: Inputs, sketch options: SketchOptions, start: String, seed: UInt64, tolerance: Double,
         maxIterations: Int, seconds: Double, startSeconds: Double, readSeconds: Double, threads: Int, version: String,
         communication: CommunicationTraffic? = nil) {
        func f(_ v: Double) -> Double? { v.isFinite ? v : nil }
        status = r.termination.rawValue
        message = r.message
        converged = r.termination == .converged
        success = r.isSolutionUsable
        fit_l1 = r.fitL1
        iterations = r.iterations
        initial_loss = f(r.initialLoss)
        final_loss = f(r.finalLoss)
        initial_gradient_norm = f(r.initialGradientNorm)
        final_gradient_norm = f(r.finalGradientNorm)
        relative_gradient_norm = f(r.relativeGradientNorm)
        self.tolerance = tolerance
        max_iterations = maxIterations
        stopping_rule = "||g(x)||_2 <= tolerance * ||g(x0)||_2 (Euclidean norm of the gradient of L), or the round-off floor: L cannot decrease in Double arithmetic and a full Newton step no longer halves ||g|| (converged_at_roundoff)"
            + (r.rankDeficient ? "; A is rank-deficient, g lies in range(A^T), so this is also the norm of the reduced gradient V^T g (V an orthonormal basis of range(A^T))" : "")
        numerical_rank = r.numericalRank
        rank_deficient = r.rankDeficient
        self.seconds = seconds
        read_seconds = readSeconds
        timings = Timings(start_point: startSeconds, passes: r.timings.passes, assembly: r.timings.assembly, analysis: r.timings.analysis,
                          factorization: r.timings.factorization, solve: r.timings.solve, sketch: r.timings.sketch, solver_total: r.timings.total)
        passes = Passes(forward: r.passes.forward, transpose: r.passes.transpose, assembly: r.passes.assembly,
                        leverage: r.passes.leverage, sampled_assembly: r.passes.sampledAssembly,
                        dense_block_assembly: r.passes.denseBlockAssembly, rank_check: r.passes.rankCheck, total: r.passes.total)
        hessian = r.strategy.rawValue
        hessian_reason = r.strategyReason
        if r.strategy == .sketch || r.strategy == .paper {
            let sampler = LeverageSampler(matrix: p.matrix, options: options)
            sketch = SketchInfo(epsilon: options.epsilon, delta: options.delta, oversampling: options.oversampling(dimension: p.columnCount),
                                embedding_rows: sampler.embeddingRows, embedding_nonzeros: options.embeddingNonzeros,
                                gaussian_columns: options.projectionColumns(rows: p.globalRowCount), seed: options.seed,
                                reuse_ratio: options.reuseRatio, safety_factor: options.safetyFactor)
        }
        leverage_estimates = r.leverageEstimates
        leverage_reuses = r.leverageReuses
        let onePass = r.timings.onePass
        pass_seconds = onePass > 0 ? onePass : nil
        reference_source = r.referenceSource
        predicted_iterations = r.predictedIterations.flatMap(f)
        non_finite_cause = r.nonFiniteCause.map(NonFiniteCauseInfo.init)
        self.start = start
        self.seed = seed
        // The whole problem's shape (in a distributed run, not this rank's block).
        problem = ProblemInfo(rows: p.globalRowCount, columns: p.columnCount, nonzeros: p.matrix.globalNonzeroCount, function: p.function.rawValue)
        self.inputs = inputs
        hessian_pattern_entries = r.hessianPatternEntries
        supernodal = r.supernodal
        warnings = r.warnings
        self.threads = threads
        ranks = p.communicator.size
        self.communication = communication.map { CommunicationInfo(calls: $0.calls, bytes_sent: $0.bytesSent, seconds: $0.seconds) }
        self.version = version
        var previousSeconds = 0.0
        trace = r.trace.map { t in
            let own = t.iteration == 0 ? t.seconds : t.seconds - previousSeconds
            previousSeconds = t.seconds
            return TraceRow(iteration: t.iteration, loss: f(t.loss), gradient_norm: f(t.gradientNorm), relative_gradient_norm: f(t.relativeGradientNorm),
                            step_length: f(t.stepLength), step_norm: f(t.stepNorm), model: t.model?.rawValue, damping: f(t.damping),
                            backtracks: t.backtracks, rejected_models: t.rejectedModels, seconds: startSeconds + t.seconds,
                            iteration_seconds: own, iteration_passes: onePass > 0 && t.iteration > 0 ? own / onePass : nil,
                            rows_kept: t.rowsKept, leverage_reused: t.leverageReused,
                            refinements: t.refinements, refinement_residual: t.refinementResidual.flatMap(f),
                            cg_iterations: t.cgIterations, preconditioner_age: t.preconditionerAge, cg_stop: t.cgStop?.rawValue,
                            times: IterationTimesRow(passes: t.times.passes, sketch: t.times.sketch, assembly: t.times.assembly,
                                                     factorization: t.times.factorization, solve: t.times.solve),
                            reference_distance: t.referenceDistance.flatMap(f), contraction: t.contraction.flatMap(f),
                            communication_seconds: t.communicationSeconds, communication_bytes: t.communicationBytes)
        }
    }
}

/// Pretty, key-sorted JSON bytes with a final newline.
public func reportJSON<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    var data = try encoder.encode(value)
    data.append(0x0A)
    return data
}
