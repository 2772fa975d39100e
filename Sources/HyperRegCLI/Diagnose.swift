import ArgumentParser
import Foundation
import HyperReg
import HyperRegReport
import MatrixMarket
import SparseCore

/// `hyperreg diagnose`: the paper's guarantee quantities at a point (docs/theory.md).
struct Diagnose: ParsableCommand, ProblemCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the quantities of the paper's guarantees (Lemma C.4, Lemma D.1, Theorem F.1) at a point x.",
        discussion: """
        Prints R, R0, sigma_min(A), the smallest Hessian eigenvalue l, the w conditions of Lemma C.4 and
        Theorem F.1 with pass/fail, the Lipschitz bound M_theory = n^4 exp(20 R^2) beside an empirical
        estimate, the convergence radius 0.1 l / M, and the degenerate cases that apply (docs/theory.md).
        The table goes to stdout, the JSON report to --report. The Hessian's eigenvalues are dense
        (LAPACK) for d up to --dense-limit, Lanczos on Hessian-vector products above it.
        Exit status 0 whatever the verdicts; 1 on input errors or overflow at x.
        """
    )

    @OptionGroup var problemOptions: ProblemOptions

    @Option(name: .long, help: "The point x (d x 1), Matrix Market.")
    var x: String

    @Option(name: .long, parsing: .unconditional, help: "Radius R for the conditions (default: max(||A||, ||x||, ||b||)).")
    var radius: Double?

    @Option(name: .long, parsing: .unconditional, help: "Points y near x for the empirical Lipschitz estimate.")
    var samples: Int = 4

    @Option(name: .long, parsing: .unconditional, help: "Seed of the sample directions.")
    var seed: UInt64 = 1

    @Option(name: .long, parsing: .unconditional, help: "Largest d for the dense Hessian eigenvalues (O(d^3) time, 8 d^2 bytes); above it, Lanczos.")
    var denseLimit: Int = 3000

    @Option(name: .long, parsing: .unconditional, help: "Lanczos step limit above --dense-limit (memory: steps x d doubles).")
    var lanczosSteps: Int = 300

    @Option(name: .long, help: "Write the JSON report here (- for stdout, then no table).")
    var report: String?

    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if let r = radius, !(r.isFinite && r > 0) { throw ValidationError("--radius must be finite and > 0") }
        if samples < 1 { throw ValidationError("--samples must be >= 1") }
        if denseLimit < 0 { throw ValidationError("--dense-limit must be >= 0") }
        if lanczosSteps < 2 { throw ValidationError("--lanczos-steps must be >= 2") }
        if [matrix, target, weights, x].compactMap({ $0 }).filter({ $0 == "-" }).count > 1 {
            throw ValidationError("only one input can be read from stdin (-)")
        }
    }

    func run() throws {
        threadOptions.apply()
        let outputs = try OutputPlan(outputs: [("--report", report)], inputs: [("A", matrix), ("b", target), ("w", weights), ("x", x)])
        let problem = try problemOptions.read(columnVectors: [("x", x)], dense: true)
        let point = try ProblemInputs.readVector(x, expected: problem.columnCount, what: "x", matrix: matrix)
        var options = DiagnosticsOptions()
        options.radius = radius
        options.lipschitzSamples = samples
        options.seed = seed
        options.denseLimit = denseLimit
        options.lanczosSteps = lanczosSteps
        let diag: TheoryDiagnostics
        do { diag = try TheoryDiagnostics.compute(problem: problem, at: point, options: options) } catch {
            throw CLIError("\(inputPath(of: error.cause, matrix: matrix, target: target, weights: weights, weight: weight, start: x)): \(error)")
        }
        var bytes: [String: [[UInt8]]] = [:]
        if report != nil {
            do { bytes["--report"] = [Array(try reportJSON(DiagnoseReport(diag, matrix: matrix, target: target, weights: weights, x: x)))] } catch {
                throw CLIError("\(error)")
            }
        }
        // The table goes to stdout with the report (unless the report is stdout): both or neither.
        let table = report == "-" ? nil : Array((diagnosticsTable(diag, matrix: matrix, x: x) + "\n").utf8)
        try outputs.commit(bytes, standardOutput: table)
    }
}


/// "pass" / "FAIL".
func verdict(_ holds: Bool) -> String { holds ? "pass" : "FAIL" }

/// The human table of `hyperreg diagnose`.
func diagnosticsTable(_ g: TheoryDiagnostics, matrix: String, x: String) -> String {
    func f(_ v: Double) -> String { v.isFinite ? formatNumber(v) : "undefined" }
    var rows: [(String, String, String)] = []
    rows.append(("||A||", f(g.normA), "largest singular value (Lanczos on A^T A)"))
    rows.append(("||x||", f(g.normX), ""))
    rows.append(("||b||", f(g.normB), ""))
    rows.append(("R", f(g.radius), g.radiusGiven ? "given (--radius)" : "max(||A||, ||x||, ||b||)"))
    rows.append(("||u||, ||v||, ||c||", "\(f(g.normU)), \(f(g.normV)), \(f(g.normC))", "at x"))
    rows.append(("R0", f(g.r0), "max(||u||, ||v||, ||b||, ||c||, 1) (Lemma C.3/C.4)"))
    rows.append(("||B(x)||", f(g.normBMatrix), "Lemma C.3 bound 10 R0^4 = \(f(10 * g.r0 * g.r0 * g.r0 * g.r0))"))
    rows.append(("sigma_min(A)", f(g.sigmaMinA), g.sigmaMinMethod))
    rows.append(("l", f(g.l), "smallest eigenvalue of H(x); largest \(f(g.hessianMaxEigenvalue))"))
    if g.lResidualBound != nil { rows.append(("l method", "", g.lMethod)) }
    rows.append(("L(x), ||g(x)||", "\(f(g.loss)), \(f(g.gradientNorm))", "Theorem F.1 takes x* with g(x*) = 0"))
    rows.append(("min w_i^2", f(g.minWeightSquared), "over \(g.rowCount) rows"))
    rows.append(("10 R0^4 + l/sigma_min^2", f(g.lemmaC4Threshold), "Lemma C.4 at the measured l (\(g.lemmaC4Violations) rows below)"))
    rows.append(("100 + l/sigma_min^2", f(g.theoremF1Threshold), "Theorem F.1 at the measured l (\(g.theoremF1Violations) rows below)"))
    rows.append(("l_C4", f(g.lGuaranteedByC4), "sigma_min^2 (min w_i^2 - 10 R0^4): Lemma C.4 \(verdict(g.lGuaranteedByC4 > 0))\(g.lGuaranteedByC4 > 0 && g.l > 0 ? ", l / l_C4 = " + f(g.l / g.lGuaranteedByC4) : "")"))
    rows.append(("l_F1", f(g.lGuaranteedByF1), "sigma_min^2 (min w_i^2 - 100): Theorem F.1 \(verdict(g.lGuaranteedByF1 > 0))\(g.lGuaranteedByF1 > 0 && g.l > 0 ? ", l / l_F1 = " + f(g.l / g.lGuaranteedByF1) : "")"))
    rows.append(("M_theory", g.lipschitzTheory.text, "n^4 exp(20 R^2) (Lemma D.1)"))
    rows.append(("M_empirical", f(g.lipschitzEmpirical), "max ||H(x)-H(y)||/||x-y|| over \(g.lipschitzSamples.count) y, ||A(y-x)||_inf = \(f(g.lipschitzStep))"))
    if g.lipschitzEmpirical > 0 {
        rows.append(("M_theory / M_empirical", LargeNumber(log10: g.lipschitzTheory.log10Value - log10(g.lipschitzEmpirical)).text, "looseness of Lemma D.1"))
    }
    rows.append(("radius 0.1 l / M_theory", g.radiusTheory?.text ?? "none (l <= 0)", "Theorem F.1: M ||x0 - x*|| <= 0.1 l"))
    rows.append(("radius 0.1 l / M_empirical", g.radiusEmpirical.map(f) ?? "none", "the same with the measured M"))
    let w1 = rows.map { $0.0.count }.max() ?? 0, w2 = rows.map { $0.1.count }.max() ?? 0
    var lines = ["hyperreg diagnose: \(matrix) at \(x): n = \(g.rowCount), d = \(g.columnCount), function \(g.function.rawValue)"]
    for r in rows {
        lines.append(r.0.padding(toLength: w1, withPad: " ", startingAt: 0) + "  " + leftPad(r.1, w2) + (r.2.isEmpty ? "" : "  " + r.2))
    }
    lines.append("conditions:")
    for c in g.conditions { lines.append("  \(verdict(c.holds))  \(c.statement)") }
    if g.degenerateCases.isEmpty {
        lines.append("degenerate cases: none")
    } else {
        lines.append("degenerate cases:")
        for c in g.degenerateCases { lines.append("  \(c.code): \(c.message)") }
    }
    return lines.joined(separator: "\n")
}
