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

/// A number that may overflow Double, for JSON: value (null if it overflows) and log10.
struct LargeNumberJSON: Encodable {
    var value: Double?
    var log10: Double
    init(_ n: LargeNumber) { value = n.value; log10 = n.log10Value }
}

/// One condition for JSON.
struct ConditionJSON: Encodable {
    var code: String
    var statement: String
    var holds: Bool
}

/// The JSON report of `hyperreg diagnose` (keys: docs/cli.md; add, never rename).
struct DiagnoseReport: Encodable {
    struct Inputs: Encodable { var matrix: String; var target: String; var weights: String?; var x: String }
    struct Degenerate: Encodable { var code: String; var message: String }
    var inputs: Inputs
    var rows: Int
    var columns: Int
    var function: String
    var norm_a: Double
    var norm_x: Double
    var norm_b: Double
    var r: Double
    var r_given: Bool
    var norm_u: Double
    var norm_v: Double
    var norm_c: Double
    var r0: Double
    var norm_b_matrix: Double?
    var b_matrix_bound: Double?
    var sigma_min_a: Double
    var sigma_min_method: String
    var l: Double
    var hessian_max_eigenvalue: Double
    var l_method: String
    var l_residual_bound: Double?
    var l_error_estimate: Double?
    var loss: Double?
    var gradient_norm: Double?
    var min_weight_squared: Double
    var lemma_c4_threshold: Double?
    var lemma_c4_violations: Int
    var lemma_c4_holds: Bool
    var theorem_f1_threshold: Double?
    var theorem_f1_violations: Int
    var theorem_f1_holds: Bool
    var l_guaranteed_c4: Double?
    var l_guaranteed_f1: Double?
    var m_theory: LargeNumberJSON
    var m_empirical: Double?
    var m_empirical_samples: [Double]
    var lipschitz_step: Double
    var radius_theory: LargeNumberJSON?
    var radius_empirical: Double?
    var ones_residual: Double
    var conditions: [ConditionJSON]
    var degenerate_cases: [Degenerate]
    var version: String

    init(_ g: TheoryDiagnostics, matrix: String, target: String, weights: String?, x: String) {
        func f(_ v: Double) -> Double? { v.isFinite ? v : nil }
        inputs = Inputs(matrix: matrix, target: target, weights: weights, x: x)
        rows = g.rowCount; columns = g.columnCount; function = g.function.rawValue
        norm_a = g.normA; norm_x = g.normX; norm_b = g.normB; r = g.radius; r_given = g.radiusGiven
        norm_u = g.normU; norm_v = g.normV; norm_c = g.normC; r0 = g.r0
        norm_b_matrix = f(g.normBMatrix); b_matrix_bound = f(10 * g.r0 * g.r0 * g.r0 * g.r0)
        sigma_min_a = g.sigmaMinA; sigma_min_method = g.sigmaMinMethod
        l = g.l; hessian_max_eigenvalue = g.hessianMaxEigenvalue; l_method = g.lMethod
        l_residual_bound = g.lResidualBound.flatMap(f); l_error_estimate = g.lErrorEstimate.flatMap(f)
        loss = f(g.loss); gradient_norm = f(g.gradientNorm); min_weight_squared = g.minWeightSquared
        lemma_c4_threshold = f(g.lemmaC4Threshold); lemma_c4_violations = g.lemmaC4Violations
        lemma_c4_holds = g.condition("lemma_c4_weights")?.holds ?? false
        theorem_f1_threshold = f(g.theoremF1Threshold); theorem_f1_violations = g.theoremF1Violations
        theorem_f1_holds = g.condition("theorem_f1_weights")?.holds ?? false
        l_guaranteed_c4 = f(g.lGuaranteedByC4)
        l_guaranteed_f1 = f(g.lGuaranteedByF1)
        m_theory = LargeNumberJSON(g.lipschitzTheory); m_empirical = f(g.lipschitzEmpirical)
        m_empirical_samples = g.lipschitzSamples.filter { $0.isFinite }; lipschitz_step = g.lipschitzStep
        radius_theory = g.radiusTheory.map(LargeNumberJSON.init); radius_empirical = g.radiusEmpirical
        ones_residual = g.onesResidual
        conditions = g.conditions.map { ConditionJSON(code: $0.code, statement: $0.statement, holds: $0.holds) }
        degenerate_cases = g.degenerateCases.map { Degenerate(code: $0.code, message: $0.message) }
        version = HyperRegVersion.string
    }
}
