import ArgumentParser
import Foundation
import HyperReg
import HyperRegReport
import MatrixMarket
import SparseCore

/// `hyperreg shift`: the target shift of Corollary F.2 (docs/theory.md).
struct Shift: ParsableCommand, ProblemCommand {
    static let configuration = CommandConfiguration(
        abstract: "Corollary F.2: the target shift delta_b equivalent to moving x_t -> x_{t+1} (part 1) or A_t -> A_{t+1} (part 2).",
        discussion: """
        Part 1 (--to): delta_b = (c(x_{t+1}) - c(x_t)) / alpha(x_t). Part 2 (--matrix-to): the same with A
        changed and x = --from fixed. Then u(A x_t) - alpha(x_t) (b - delta_b) = c(x_{t+1}) exactly: the
        problem with target b - delta_b has at x_t the fit term the original has after the move.
        Prints ||delta_b||, its ratio to the move, the corollary's explicit bound and its conditions;
        writes delta_b to --output (Matrix Market array) and the JSON report to --report.
        """
    )

    @OptionGroup var problemOptions: ProblemOptions

    @Option(name: .long, help: "x_t (d x 1), Matrix Market (part 2: the fixed x).")
    var from: String

    @Option(name: .long, help: "x_{t+1} (d x 1): part 1.")
    var to: String?

    @Option(name: .long, help: "A_{t+1} (n x d): part 2.")
    var matrixTo: String?

    @Option(name: .long, parsing: .unconditional, help: "Radius R for the conditions (default: max(||A||, ||x||, ||b||)).")
    var radius: Double?

    @Option(name: .long, help: "Write delta_b here (Matrix Market array; - for stdout, then no table).")
    var output: String?

    @Option(name: .long, help: "Write the JSON report here (- for stdout, then no table).")
    var report: String?

    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if (to == nil) == (matrixTo == nil) { throw ValidationError("give exactly one of --to (part 1) and --matrix-to (part 2)") }
        if let r = radius, !(r.isFinite && r > 0) { throw ValidationError("--radius must be finite and > 0") }
        if output == "-" && report == "-" { throw ValidationError("--output and --report cannot both be stdout") }
        if [matrix, target, weights, from, to, matrixTo].compactMap({ $0 }).filter({ $0 == "-" }).count > 1 {
            throw ValidationError("only one input can be read from stdin (-)")
        }
    }

    func run() throws {
        threadOptions.apply()
        let outputs = try OutputPlan(outputs: [("--output", output), ("--report", report)],
                                     inputs: [("A", matrix), ("b", target), ("w", weights), ("x_t", from), ("x_{t+1}", to), ("A_{t+1}", matrixTo)])
        let problem = try problemOptions.read(columnVectors: [("x_t", from), ("x_{t+1}", to)])
        let x0 = try ProblemInputs.readVector(from, expected: problem.columnCount, what: "x_t", matrix: matrix)
        let shift: InContextShift
        if let toPath = to {
            let x1 = try ProblemInputs.readVector(toPath, expected: problem.columnCount, what: "x_{t+1}", matrix: matrix)
            do { shift = try InContextShift.iterate(problem: problem, from: x0, to: x1, radius: radius) } catch { throw CLIError("\(matrix): \(error)") }
        } else {
            let path = matrixTo!
            let a1: CSRMatrix
            do { a1 = try MatrixMarket.readMatrix(from: path).matrix } catch { throw CLIError("\(error)") }
            guard a1.rowCount == problem.rowCount, a1.columnCount == problem.columnCount else {
                throw CLIError("\(path): A_{t+1} is \(a1.rowCount) x \(a1.columnCount) but \(matrix) is \(problem.rowCount) x \(problem.columnCount)")
            }
            do { shift = try InContextShift.data(problem: problem, matrixTo: a1, at: x0, radius: radius) } catch { throw CLIError("\(path): \(error)") }
        }
        var bytes: [String: [[UInt8]]] = [:]
        do {
            if let path = output {
                bytes["--output"] = try MatrixMarket.arrayText(
                    shift.deltaB, rowCount: shift.deltaB.count, columnCount: 1, name: path,
                    comments: ["hyperreg \(HyperRegVersion.string) shift (Corollary F.2 part \(shift.part == .iterate ? 1 : 2)): delta_b = (c_after - c_before) / alpha_before; shifted target b - delta_b"])
            }
            if report != nil {
                bytes["--report"] = [Array(try reportJSON(ShiftReport(shift, matrix: matrix, target: target, from: from, to: to, matrixTo: matrixTo)))]
            }
        } catch { throw CLIError("\(error)") }
        // The table goes to stdout with the outputs (unless one of them is stdout): all or none.
        let table = output != "-" && report != "-" ? Array((shiftTable(shift, matrix: matrix) + "\n").utf8) : nil
        try outputs.commit(bytes, standardOutput: table)
    }
}

/// The human table of `hyperreg shift`.
func shiftTable(_ s: InContextShift, matrix: String) -> String {
    func f(_ v: Double) -> String { v.isFinite ? formatNumber(v) : "undefined" }
    let part1 = s.part == .iterate
    let move = part1 ? "||x_{t+1} - x_t||" : "||A_{t+1} - A_t||"
    var rows: [(String, String, String)] = []
    rows.append(("||delta_b||", f(s.deltaBNorm), "delta_b = (c_after - c_before) / alpha_before (Lemma E.2)"))
    rows.append((move, f(s.moveNorm), part1 ? "" : "spectral norm (Lanczos)"))
    rows.append(("||delta_b|| / move", s.ratio.map(f) ?? "undefined (no move)", "the measured M"))
    rows.append(("alpha before, after", "\(f(s.alphaFrom)), \(f(s.alphaTo))", "|alpha^{-1}| bound e^{R^2} = \(s.alphaInverseBound.text) (Lemma E.3)"))
    rows.append(("||Delta u||", f(s.uDifferenceNorm), "bound 2 sqrt(n) R e^{R^2} * move = \(s.moveNorm > 0 ? LargeNumber(log10: s.uLipschitzBound.log10Value + log10(s.moveNorm)).text : "0") (Lemma D.2/E.7)"))
    rows.append(("|Delta alpha|", f(s.alphaDifference), "bound sqrt(n) ||Delta u|| = \(f(Double(s.rowCount).squareRoot() * s.uDifferenceNorm)) (Lemma D.3/E.8)"))
    rows.append(("||Delta c||", f(s.cDifferenceNorm), "bound ||Delta u|| + |Delta alpha| ||b|| = \(f(s.uDifferenceNorm + s.alphaDifference * s.normB)) (Lemma D.4/E.9)"))
    rows.append(("||A||, ||x||, ||b||", "\(f(s.normA)), \(f(s.normX)), \(f(s.normB))", ""))
    rows.append(("R", f(s.radius), ""))
    rows.append(("M_explicit", s.constant.text, "2 sqrt(n) R (1 + sqrt(n) ||b||) e^{2 R^2}"))
    rows.append(("bound M_explicit * move", s.bound?.text ?? "0", "Corollary F.2 part \(part1 ? 1 : 2)"))
    if let b = s.bound, s.deltaBNorm > 0 {
        rows.append(("bound / ||delta_b||", LargeNumber(log10: b.log10Value - log10(s.deltaBNorm)).text, "looseness"))
    }
    rows.append(("max |change of Ax|", f(s.maxAbsArgumentChange), part1 ? "||A (x_{t+1} - x_t)||_inf" : "||(A_{t+1} - A_t) x||_inf"))
    rows.append(("shifted fit loss at x_t", f(s.shiftedFitLoss), "0.5 ||u(A x_t) - alpha (b - delta_b)||^2"))
    rows.append(("original fit loss after", f(s.originalFitLoss), "0.5 ||c_after||^2 (equal: Lemma E.2)"))
    rows.append(("identity residual", f(s.identityResidual), "||c~(x_t) - c_after|| / ||u_after||, rounding only"))
    rows.append(("0.5||w o Ax||^2 before, after", "\(f(s.regularizationFrom)), \(f(s.regularizationTo))", "not shifted (the corollary's problem has w = 0)"))
    let w1 = rows.map { $0.0.count }.max() ?? 0, w2 = rows.map { $0.1.count }.max() ?? 0
    var lines = ["hyperreg shift: \(matrix): Corollary F.2 part \(part1 ? 1 : 2), n = \(s.rowCount)"]
    for r in rows {
        lines.append(r.0.padding(toLength: w1, withPad: " ", startingAt: 0) + "  " + leftPad(r.1, w2) + (r.2.isEmpty ? "" : "  " + r.2))
    }
    lines.append("conditions:")
    for c in s.conditions { lines.append("  \(verdict(c.holds))  \(c.statement)") }
    return lines.joined(separator: "\n")
}
