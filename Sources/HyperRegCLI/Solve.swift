import ArgumentParser
import Cholmod
import Foundation
import HyperReg
import HyperRegReport
import MatrixMarket
import SparseCore

extension FunctionKind: ExpressibleByArgument {}
extension StartStrategy: ExpressibleByArgument {}
extension HessianStrategy: ExpressibleByArgument {}
extension PCGPreconditioner: ExpressibleByArgument {}

/// `hyperreg solve`.
struct Solve: ParsableCommand, ProblemCommand {
    static let configuration = CommandConfiguration(
        abstract: "Solve min_x 0.5||u(Ax) - <u(Ax),1> b||^2 + 0.5||diag(w) A x||^2 by (sketched) Newton.",
        discussion: """
        A is read as a sparse matrix (any Matrix Market matrix file, .gz, or - for stdin), b, w and \
        x0 as vectors. The per-iteration table goes to stderr; x is written as a Matrix Market array \
        to --output (or stdout when --output is -); the JSON report to --report.
        Stopping rule: ||g(x)||_2 <= tolerance * ||g(x0)||_2 (Euclidean norm of the gradient), or \
        the round-off floor of the problem when it comes first (status converged_at_roundoff).
        Hessian strategies (--hessian): exact, sketch (leverage-score sampled, globalised), paper \
        (the paper's Algorithm 1 as printed), auto (a cost model picks exact, sketch or pcg), pcg \
        (Newton-CG on the exact Hessian, preconditioned by the sampled one).
        Progress (what is read, the start point, the table, a closing time summary) goes to stderr \
        unless --quiet.
        Exit status: 0 when a solution was produced (converged, converged_at_roundoff, stalled, \
        iteration_limit: the report's success is true; its status says which), 1 on input errors, overflow, stationary or degenerate starts, and the \
        paper strategy's assumption_violated and diverged.
        """
    )

    @OptionGroup var problemOptions: ProblemOptions

    @Option(name: .long, help: "Start point x0 (d x 1), Matrix Market. Excludes --start.")
    var x0: String?

    @Option(name: .long, help: "Start strategy when no --x0: auto (exp: log-fit, sinh: inverse-fit, cosh: random; random when b has a sign the fit cannot take), log-fit, inverse-fit, random, zero.")
    var start: StartStrategy = .automatic

    @Option(name: .long, parsing: .unconditional, help: "Seed for the random start.")
    var seed: UInt64 = 1

    @Option(name: .long, parsing: .unconditional, help: "Relative gradient tolerance: stop when ||g||_2 <= T ||g(x0)||_2.")
    var tolerance: Double = 1e-10

    @Option(name: .long, parsing: .unconditional, help: "Maximum Newton iterations.")
    var maxIterations: Int = 100

    @Option(name: .long, help: "Hessian strategy: exact, sketch, paper, auto (a cost model picks exact, sketch or pcg) or pcg.")
    var hessian: HessianStrategy = .automatic

    @Option(name: .long, parsing: .unconditional, help: "Sketch accuracy eps in (0,1): (1-eps) A^T D A <= A^T D~ A <= (1+eps) A^T D A w.p. 1-delta.")
    var epsilon: Double = SketchOptions().epsilon

    @Option(name: .long, parsing: .unconditional, help: "Failure probability delta of one leverage-score sample, in (0,1).")
    var delta: Double = SketchOptions().delta

    @Option(name: .long, parsing: .unconditional, help: "Seed of the sketch's random choices (embedding, projection, sample).")
    var sketchSeed: UInt64 = SketchOptions().seed

    @Option(name: .long, parsing: .unconditional, help: "Re-use leverage scores while D changes by at most this ratio spread (1 disables).")
    var reuseRatio: Double = SketchOptions().reuseRatio

    @Option(name: .long, parsing: .unconditional, help: "sketch: refinement steps per iteration towards the full-Hessian Newton step (2 passes over A each).")
    var refine: Int = 0

    @Option(name: .long, help: "pcg: the preconditioner's row sample: row-norm (p_i ~ D_i ||a_i||^2) or leverage (leverage-score estimates).")
    var pcgPreconditioner: PCGPreconditioner = SolverOptions().pcgPreconditioner

    @Option(name: .long, parsing: .unconditional, help: "pcg with row-norm: expected sampled rows c d ln d (at most n), c > 0.")
    var pcgSampleFactor: Double = SolverOptions().pcgSampleFactor

    @Option(name: .long, help: "Reference solution x* (d x 1, Matrix Market): the trace records ||x_t - x*||_2 and the contraction.")
    var reference: String?

    @Option(name: .long, help: "Write x here (Matrix Market array; - for stdout).")
    var output: String?

    @Option(name: .long, help: "Write the JSON report here (- for stdout).")
    var report: String?

    @Flag(name: .long, help: "No per-iteration table on stderr.")
    var quiet = false

    @OptionGroup var threadOptions: ThreadOptions

    /// The solver's options from the command line (the reference and the callback are added
    /// in `run`).
    private var solverOptions: SolverOptions {
        var options = SolverOptions()
        options.tolerance = tolerance
        options.maxIterations = maxIterations
        options.hessian = hessian
        options.sketch.epsilon = epsilon
        options.sketch.delta = delta
        options.sketch.seed = sketchSeed
        options.sketch.reuseRatio = reuseRatio
        options.refinementSteps = refine
        options.pcgPreconditioner = pcgPreconditioner
        options.pcgSampleFactor = pcgSampleFactor
        return options
    }

    /// The library's rules (`SolverOptions.check`), worded with option names, then the
    /// command line's own.
    func validate() throws {
        do { try solverOptions.check() } catch {
            switch error {
            case .tolerance: throw ValidationError("--tolerance must be finite and >= 0")
            case .maxIterations: throw ValidationError("--max-iterations must be >= 0")
            case .epsilon(let v): throw ValidationError("--epsilon must be in (0, 1), got \(v)")
            case .delta(let v): throw ValidationError("--delta must be in (0, 1), got \(v)")
            case .refinementSteps(let v): throw ValidationError("--refine must be >= 0, got \(v)")
            case .reuseRatio(let v): throw ValidationError("--reuse-ratio must be >= 1, got \(v)")
            case .pcgSampleFactor(let v): throw ValidationError("--pcg-sample-factor must be finite and > 0, got \(v)")
            default: throw ValidationError("\(error)")   // fields the command line does not set
            }
        }
        if x0 != nil && start != .automatic { throw ValidationError("--x0 and --start exclude each other") }
        if output == "-" && report == "-" { throw ValidationError("--output and --report cannot both be stdout") }
        let stdinUsers = [matrix, target, weights, x0, reference].compactMap { $0 }.filter { $0 == "-" }
        if stdinUsers.count > 1 { throw ValidationError("only one input can be read from stdin (-)") }
    }

    func run() throws {
        threadOptions.apply()
        // Under mpirun (the MPI build, several ranks) every step below is collective: each rank
        // reads and holds its row block, rank 0 alone prints progress and writes the outputs,
        // and an error on any rank ends every rank with the same message and exit code
        // (`Distributed.agreeing`; docs/scale-out.md). Otherwise `comm` is `SingleProcess` and
        // the agreeing steps just run.
        let comm = Distributed.communicator
        let distributed = comm.isDistributed || [matrix, target, weights].contains { $0.map(MatrixMarketPartition.isManifest) ?? false }
        if comm.isDistributed { Distributed.applyRankThreads(explicit: threadOptions.threads) }
        let leader = comm.rank == 0
        // 0. Outputs, resolved and checked before any work (docs/cli.md, "Outputs"), by rank 0.
        let outputs = try Distributed.agreeing(comm) {
            try leader ? OutputPlan(outputs: [("--output", output), ("--report", report)],
                                    inputs: [("A", matrix), ("b", target), ("w", weights), ("x0", x0), ("the reference", reference)]) : nil
        }
        // 1. Read (timed separately from the solve); shapes and memory are checked from the
        // headers first; errors name the file.
        let progress = IterationTable(enabled: !quiet && leader)
        progress.reading([("A", matrix), ("b", target), ("w", weights), ("x0", x0), ("the reference", reference)])
        let readStart = ContinuousClock.now
        let (problem, givenX0, referenceX) = try Distributed.agreeing(comm) {
            let problem = distributed ? try readBlock(comm) : try problemOptions.read(columnVectors: [("x0", x0), ("the reference", reference)])
            let givenX0 = try x0.map { try ProblemInputs.readVector($0, expected: problem.columnCount, what: "x0", matrix: matrix) }
            let referenceX = try reference.map { try ProblemInputs.readVector($0, expected: problem.columnCount, what: "the reference", matrix: matrix) }
            return (problem, givenX0, referenceX)
        }
        let readSeconds = secondsSince(readStart)
        let ranksWords = comm.isDistributed ? " over \(comm.size) ranks" : ""
        progress.line("read in \(String(format: "%.3f", readSeconds)) s: n = \(problem.globalRowCount), d = \(problem.columnCount), nnz = \(problem.matrix.globalNonzeroCount)\(ranksWords)")
        let trafficAtStart = comm.traffic

        // 2. Start point and solve. One solve in this process: OpenBLAS gets one thread when
        // the d x d work is smaller than a pass (its idle threads would spin on the solver's
        // cores; Cholmod/BLASThreads.swift).
        BLASThreads.configure(dimension: problem.columnCount, nonzeros: problem.matrix.globalNonzeroCount)
        let solveStart = ContinuousClock.now
        let startVector: [Double]
        let startUsed: String
        if let v = givenX0 { startVector = v; startUsed = "file" } else {
            let planned = StartPoint.planned(for: problem, strategy: start)  // collective: every rank
            progress.line("start point (\(planned.rawValue))...")
            (startVector, startUsed) = try Distributed.agreeing(comm) {
                do {
                    let s = try StartPoint.compute(for: problem, strategy: start, seed: seed)
                    return (s.x0, s.used.rawValue)
                } catch SolverError.nonFinite(let cause, let words) {
                    throw CLIError("\(inputPath(of: cause, matrix: matrix, target: target, weights: weights, weight: weight, start: x0)): \(SolverError.nonFinite(cause, words))")
                } catch { throw CLIError("\(error)") }
            }
        }
        let startSeconds = secondsSince(solveStart)
        if givenX0 == nil { progress.line("start point \(startUsed) in \(String(format: "%.3f", startSeconds)) s") }
        var options = solverOptions
        options.reference = referenceX
        let table = progress
        table.startSeconds = startSeconds
        table.header(problem: problem, matrixPath: matrix, start: startUsed)
        options.onIteration = { record in table.row(record); return true }
        options.measurePass = false  // timed below, after the clock stops (instrumentation, not solving)
        var result: SolverResult = try Distributed.agreeing(comm) {
            do {
                return try NewtonSolver(options: options).solve(problem, from: startVector)
            } catch {
                throw CLIError("\(matrix): \(error)")
            }
        }
        let solveSeconds = secondsSince(solveStart)
        result.timings.onePass = NewtonSolver.passSeconds(of: problem, at: result.x)
        table.footer(result)
        table.summary(readSeconds: readSeconds, startSeconds: startSeconds, solveSeconds: solveSeconds, iterations: result.iterations)

        // 3. Outputs, committed together (x only when usable).
        let summary = SolveReport(result: result, problem: problem, inputs: .init(matrix: matrix, target: target, weights: weights, weight: weights == nil ? (weight ?? 1) : nil, x0: x0, reference: reference),
                                 sketch: options.sketch,
                                 start: startUsed, seed: seed, tolerance: tolerance, maxIterations: maxIterations,
                                 seconds: solveSeconds, startSeconds: startSeconds, readSeconds: readSeconds,
                                 threads: Parallelism.threadCount, version: HyperRegVersion.string,
                                 communication: comm.isDistributed ? comm.traffic.since(trafficAtStart) : nil)
        let produced = result.isSolutionUsable
        var bytes: [String: [[UInt8]]] = [:]
        try Distributed.agreeing(comm) {
            guard let outputs else { return }  // ranks other than 0 write nothing
            do {
            if produced, let path = output {
                bytes["--output"] = try MatrixMarket.arrayText(
                    result.x, rowCount: result.x.count, columnCount: 1, name: path,
                    comments: ["hyperreg \(HyperRegVersion.string) solve: function \(function.rawValue), status \(result.termination.rawValue)",
                               "final loss \(result.finalLoss), relative gradient norm \(result.relativeGradientNorm)"])
            }
            if report != nil { bytes["--report"] = [Array(try reportJSON(summary))] }
            } catch {
                throw CLIError("\(error)")
            }
            try outputs.commit(bytes)
        }
        if !produced {
            // The file of the input entry responsible (non_finite), else A's as before; in a
            // distributed run, rank 0's words (every rank has the same status).
            try Distributed.agreeing(comm) {
                guard leader else { throw Distributed.Follower() }
                let path = inputPath(of: result.nonFiniteCause, matrix: matrix, target: target, weights: weights, weight: weight, start: x0)
                throw CLIError("\(path): \(result.termination.rawValue): \(result.message)")
            }
        }
    }

    /// This rank's block of the problem (collective): A's rows, b's and w's slices
    /// (`DistributedInput.read`: byte ranges of one file, or the parts of `hyperreg partition`),
    /// as a block of the distributed problem. The whole-problem memory plan is not checked
    /// (the reader checks each rank's share against its memory).
    private func readBlock(_ comm: any Communicator) throws -> Problem {
        let options = MatrixMarketReadOptions(memoryLimit: problemOptions.limit.readerLimit)
        let input: DistributedInput
        do { input = try DistributedInput.read(matrix: matrix, target: target, weights: weights, communicator: comm, options: options) } catch {
            throw CLIError("\(error)")
        }
        let a = input.matrix.with(distribution: input.distribution(communicator: comm))
        let w = input.weights ?? [Double](repeating: weight ?? 1, count: a.rowCount)
        return try ProblemInputs.problem(a, input.target, w, function: function, matrix: matrix, target: target, weights: weights, weight: weight)
    }
}

/// The progress on stderr (not under --quiet): what is read, the start point, the
/// per-iteration table, the closing lines and the time summary.
final class IterationTable: @unchecked Sendable {
    let enabled: Bool
    /// Seconds the start point took: added to the solver's clock so that the table's
    /// `seconds` run on the report's clock (start point included, reading excluded).
    var startSeconds = 0.0
    init(enabled: Bool) { self.enabled = enabled }

    /// One progress line.
    func line(_ text: String) {
        guard enabled else { return }
        printError(text)
    }

    /// "reading A.mtx (610.2 MB), b.mtx (1.6 MB)...": the inputs given, with their sizes when
    /// they are regular files.
    func reading(_ inputs: [(String, String?)]) {
        guard enabled else { return }
        let parts = inputs.compactMap { name, path -> String? in
            guard let path else { return nil }
            if path == "-" { return "\(name) from stdin" }
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let size = (attributes[.size] as? NSNumber)?.int64Value else { return path }
            return "\(path) (\(byteSize(size)))"
        }
        printError("reading " + parts.joined(separator: ", ") + "...")
    }

    /// The closing time summary; its figures are the report's: `read_seconds`,
    /// `timings.start_point`, `seconds` (start point + iterations) and their sum.
    func summary(readSeconds: Double, startSeconds: Double, solveSeconds: Double, iterations: Int) {
        guard enabled else { return }
        let f = { (v: Double) in String(format: "%.3f", v) }
        printError("time: read \(f(readSeconds)) s + start point \(f(startSeconds)) s + \(iterations) iteration\(iterations == 1 ? "" : "s") \(f(solveSeconds - startSeconds)) s"
                   + " = \(f(readSeconds + solveSeconds)) s (the report's read_seconds + seconds; writing the outputs not included)")
    }

    func header(problem: Problem, matrixPath: String, start: String) {
        guard enabled else { return }
        let ranks = problem.communicator.isDistributed ? ", \(problem.communicator.size) ranks" : ""
        printError("hyperreg solve: \(matrixPath): n = \(problem.globalRowCount), d = \(problem.columnCount), nnz = \(problem.matrix.globalNonzeroCount), function \(problem.function.rawValue), start \(start)\(ranks)")
        printError(leftPad("iter", 5) + " " + leftPad("loss", 23) + " " + leftPad("||g||_2", 12) + " " + leftPad("rel ||g||", 10) + " "
                   + leftPad("step", 9) + " " + "model".padding(toLength: 15, withPad: " ", startingAt: 0) + " " + leftPad("rows kept", 10) + " "
                   + leftPad("seconds", 9))
    }

    func row(_ r: IterationRecord) {
        guard enabled else { return }
        let model = (r.model?.rawValue ?? "-").padding(toLength: 15, withPad: " ", startingAt: 0)
        let kept = r.rowsKept.map { "\($0)" + (r.leverageReused == true ? "*" : "") } ?? "-"
        printError(String(format: "%5d %23.16e %12.5e %10.3e %9.3e ", r.iteration, r.loss, r.gradientNorm, r.relativeGradientNorm, r.stepLength)
                   + model + " " + leftPad(kept, 10) + String(format: " %9.3f", startSeconds + r.seconds))
    }

    func footer(_ result: SolverResult) {
        guard enabled else { return }
        printError("hessian: \(result.strategy.rawValue) (\(result.strategyReason)); rows kept marked * re-used leverage scores")
        printError("status: \(result.termination.rawValue): \(result.message)")
        if let fit = result.fitL1 {
            printError("fit: ||u(Ax)/alpha - b||_1 = \(String(format: "%.3e", fit)) (L1 distance of the normalised u(Ax) to b; alpha = <u(Ax), 1>)")
        }
        for w in result.warnings { printError("warning: \(w)") }
    }
}

/// A byte count in decimal units: "610.2 MB", "4.1 kB", "512 bytes".
func byteSize(_ bytes: Int64) -> String {
    let b = Double(bytes)
    if b >= 1e9 { return String(format: "%.1f GB", b / 1e9) }
    if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
    if b >= 1e3 { return String(format: "%.1f kB", b / 1e3) }
    return "\(bytes) bytes"
}

/// `text` right-aligned in `width` columns.
func leftPad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
