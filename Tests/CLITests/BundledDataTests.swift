import Foundation
import HyperRegTestSupport
import MatrixMarket
import Testing

/// Data/expectations.json: what `hyperreg solve` reaches on every bundled problem, written by
/// scripts/make-expectations.sh. The tolerances, and why, are in the file itself.
struct BundledExpectations: Decodable {
    struct Tolerances: Decodable {
        var loss_relative: Double
        var loss_absolute: Double
        var gradient_factor: Double
        var x_true_relative: Double
        var reference_relative: Double
    }

    /// The independent reference of a run: the loss DenseNewton reaches.
    struct Reference: Decodable {
        /// DenseNewton's final loss, recorded from the dense solver, never from hyperreg.
        var loss: Double
        /// "x0": from hyperreg's start point (`--max-iterations 0`); "perturbed_final_x": from
        /// hyperreg's x with entries scaled by 1 - 1e-3, 1, 1 + 1e-3 in turn (non-convex runs
        /// whose start leads the dense solver to another local minimiser).
        var start: String
    }

    struct Run: Decodable, CustomTestStringConvertible {
        var name: String
        var dataset: String
        var arguments: [String]
        var status: String
        var final_loss: Double
        var final_gradient_norm: Double
        var tolerance: Double
        var x_true_relative_error: Double?
        var reference: Reference?
        var testDescription: String { name }
    }

    var tolerances: Tolerances
    var runs: [Run]

    static let url = TestPaths.bundledDataDirectory.appendingPathComponent("expectations.json")

    /// The file, or an empty run list when it cannot be read (``BundledDataTests/everyFolderHasExpectations()`` then fails).
    static let loaded: BundledExpectations? = try? JSONDecoder().decode(BundledExpectations.self, from: Data(contentsOf: url))
}

@Suite("bundled datasets solve to their recorded expectations")
struct BundledDataTests {
    /// Every problem folder under Data/ (one holding A.mtx) is covered by at least one run.
    @Test func everyFolderHasExpectations() throws {
        let expectations = try #require(BundledExpectations.loaded, "cannot read \(BundledExpectations.url.path)")
        let root = TestPaths.bundledDataDirectory
        let enumerator = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
        var folders: Set<String> = []
        for case let url as URL in enumerator where url.lastPathComponent == "A.mtx" {
            let folder = url.deletingLastPathComponent().path.replacingOccurrences(of: root.deletingLastPathComponent().path + "/", with: "")
            folders.insert(folder)
        }
        #expect(folders.count >= 9)   // 4 planted + 5 attention problems
        let covered = Set(expectations.runs.map(\.dataset))
        #expect(folders.subtracting(covered).isEmpty, "no expectation for \(folders.subtracting(covered).sorted())")
    }

    @Test(arguments: BundledExpectations.loaded?.runs ?? [])
    func solvesToExpectation(run: BundledExpectations.Run) throws {
        let tolerances = try #require(BundledExpectations.loaded).tolerances
        let folder = TestPaths.packageRoot.appendingPathComponent(run.dataset)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xPath = dir.appendingPathComponent("x.mtx").path, reportPath = dir.appendingPathComponent("report.json").path
        // As in scripts/make-expectations.sh: a bare `*.mtx` argument names a file of the dataset folder.
        let arguments = run.arguments.map { $0.hasSuffix(".mtx") ? folder.appendingPathComponent($0).path : $0 }
        let r = try hyperreg(["solve", folder.appendingPathComponent("A.mtx").path, folder.appendingPathComponent("b.mtx").path]
                             + arguments + ["--quiet", "--output", xPath, "--report", reportPath], environment: oneBLASThread)
        try #require(r.status == 0, "\(run.name): solve failed: \(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any])
        let status = report["status"] as? String
        let loss = try #require(report["final_loss"] as? Double)
        let gradient = try #require(report["final_gradient_norm"] as? Double)
        let relative = try #require(report["relative_gradient_norm"] as? Double)

        #expect(status == run.status, "\(run.name): status \(status ?? "?"), recorded \(run.status)")
        // The independent reference (HyperRegTestSupport.DenseNewton: dense Hessian, LAPACK,
        // Armijo; no code shared with the solver): hyperreg's loss must equal the dense
        // solver's, and the dense solver must reproduce the loss recorded from it, both to
        // reference_relative (the file's tolerances_why says why 1e-10).
        let recorded = try #require(run.reference, "\(run.name): no reference loss recorded")
        let dense = try denseReference(run, folder: folder, arguments: arguments, hyperregX: MatrixMarket.readVector(from: xPath))
        if ProcessInfo.processInfo.environment["HYPERREG_PRINT_REFERENCE"] != nil {
            print("reference \(run.name): dense \(dense.result.loss) (\(dense.result.iterations) iterations, \(dense.result.stop), relative gradient \(dense.result.relativeGradientNorm)); hyperreg \(loss); relative difference \(abs(loss - dense.result.loss) / abs(dense.result.loss))")
        }
        let referenceBound = tolerances.reference_relative * abs(dense.result.loss) + tolerances.loss_absolute
        #expect(abs(loss - dense.result.loss) <= referenceBound,
                "\(run.name): final loss \(loss), dense Newton reference \(dense.result.loss) (bound \(referenceBound))")
        #expect(abs(dense.result.loss - recorded.loss) <= tolerances.reference_relative * abs(recorded.loss) + tolerances.loss_absolute,
                "\(run.name): dense Newton reached \(dense.result.loss), recorded reference \(recorded.loss)")
        if run.status == "converged" {
            // The stopping rule checked with the dense gradient, not the solver's report: 10x
            // covers the two codes' round-off in g (measured within 2x).
            #expect(dense.relativeGradientAtX <= 10 * run.tolerance,
                    "\(run.name): dense ||g(x)|| / ||g(x0)|| = \(dense.relativeGradientAtX), tolerance \(run.tolerance)")
        }
        let lossBound = tolerances.loss_relative * abs(run.final_loss) + tolerances.loss_absolute
        #expect(abs(loss - run.final_loss) <= lossBound, "\(run.name): final loss \(loss), recorded \(run.final_loss) (bound \(lossBound))")
        if run.status == "converged" {
            #expect(relative <= run.tolerance, "\(run.name): relative gradient \(relative) above the tolerance \(run.tolerance)")
        } else {
            // A run at the round-off floor (converged_at_roundoff, or stalled) ends where the last gradient is noise: the
            // recorded value may be a lucky draw below the floor. Where x_true is known, the floor
            // is the gradient hyperreg itself computes at x_true, and the bound is taken from the
            // larger of the two.
            var floor = 0.0
            let xTruePath = folder.appendingPathComponent("x_true.mtx").path
            if run.status == "stalled" || run.status == "converged_at_roundoff", FileManager.default.fileExists(atPath: xTruePath) {
                let atTrue = try hyperreg(["solve", folder.appendingPathComponent("A.mtx").path, folder.appendingPathComponent("b.mtx").path]
                                          + arguments + ["--x0", xTruePath, "--max-iterations", "0", "--quiet", "--report", "-"])
                let r0 = try #require(try JSONSerialization.jsonObject(with: Data(atTrue.stdout.utf8)) as? [String: Any])
                floor = try #require(r0["final_gradient_norm"] as? Double)
            }
            #expect(gradient <= tolerances.gradient_factor * max(run.final_gradient_norm, floor),
                    "\(run.name): gradient \(gradient), recorded \(run.final_gradient_norm), at x_true \(floor)")
        }
        if run.x_true_relative_error != nil {
            let x = try MatrixMarket.readVector(from: xPath)
            let xTrue = try MatrixMarket.readVector(from: folder.appendingPathComponent("x_true.mtx").path)
            try #require(x.count == xTrue.count)
            let error = zip(x, xTrue).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                / xTrue.map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(error <= tolerances.x_true_relative, "\(run.name): ||x - x_true|| / ||x_true|| = \(error)")
        }
    }

    /// The independent dense Newton reference (HyperRegTestSupport.DenseNewton) for a run,
    /// from the start its `reference.start` names; and the dense relative gradient at
    /// hyperreg's x (`||g(x)|| / ||g(x0)||`, x0 hyperreg's start point: `--max-iterations 0`
    /// writes it unchanged).
    func denseReference(_ run: BundledExpectations.Run, folder: URL, arguments: [String], hyperregX: [Double]) throws
        -> (result: DenseNewtonResult, relativeGradientAtX: Double) {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let x0Path = dir.appendingPathComponent("x0.mtx").path
        let start = try hyperreg(["solve", folder.appendingPathComponent("A.mtx").path, folder.appendingPathComponent("b.mtx").path]
                                 + arguments + ["--max-iterations", "0", "--quiet", "--output", x0Path])
        try #require(start.status == 0, "\(run.name): the start point run failed: \(start.stderr)")
        let x0 = try MatrixMarket.readVector(from: x0Path)
        let a = try MatrixMarket.readMatrix(from: folder.appendingPathComponent("A.mtx").path).matrix
        let b = try MatrixMarket.readVector(from: folder.appendingPathComponent("b.mtx").path)
        var w = [Double](repeating: 0, count: a.rowCount)
        var function = DenseProblem.Function.exp
        for (k, argument) in arguments.enumerated() where k + 1 < arguments.count {
            switch argument {
            case "--weights": w = try MatrixMarket.readVector(from: arguments[k + 1])
            case "--weight": w = [Double](repeating: try #require(Double(arguments[k + 1])), count: a.rowCount)
            case "--function": function = try #require(DenseProblem.Function(rawValue: arguments[k + 1]))
            default: break
            }
        }
        let problem = DenseProblem(matrix: a, target: b, weights: w, function: function)
        let from: [Double]
        switch run.reference?.start {
        case "perturbed_final_x": from = hyperregX.enumerated().map { $1 * (1 + 1e-3 * Double($0 % 3 - 1)) }
        default: from = x0
        }
        let g0 = DenseNewton.norm(problem.gradient(x0))
        let relative = g0 > 0 ? DenseNewton.norm(problem.gradient(hyperregX)) / g0 : 0
        return (DenseNewton.solve(problem, from: from), relative)
    }

    /// A start at the round-off floor ends there without a step (docs/solver.md, "Round-off
    /// regime"). From x_true of keys-library-l4h0 (L ~ 3e-28) the full Newton step's loss
    /// once looked lower only because z was updated incrementally (z + A s gave 3e-30); the
    /// run then accepted it and fell back to x0 at the end. With z(1) = A (x + s) formed by a
    /// pass, the step is judged on its true loss: no step is kept, the status says the floor
    /// was reached, and x is x0 itself, bit for bit. (The fall-back to x0 is checked on its
    /// own in MinimizerPartsTests.)
    @Test func aStartAtTheRoundoffFloorEndsThereWithoutAStep() throws {
        let folder = TestPaths.bundledDataDirectory.appendingPathComponent("attention/keys-library-l4h0")
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xPath = dir.appendingPathComponent("x.mtx").path, xTrue = folder.appendingPathComponent("x_true.mtx").path
        let r = try hyperreg(["solve", folder.appendingPathComponent("A.mtx").path, folder.appendingPathComponent("b.mtx").path,
                              "--weight", "0", "--function", "exp", "--x0", xTrue, "--quiet", "--output", xPath, "--report", "-"])
        try #require(r.status == 0, "solve failed: \(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["status"] as? String == "converged_at_roundoff", "status \(report["status"] ?? "-")")
        #expect(report["iterations"] as? Int == 0)
        let initial = try #require(report["initial_loss"] as? Double), final = try #require(report["final_loss"] as? Double)
        #expect(final == initial)
        let x = try MatrixMarket.readVector(from: xPath), x0 = try MatrixMarket.readVector(from: xTrue)
        #expect(x.map(\.bitPattern) == x0.map(\.bitPattern), "x is not x0")
    }

    /// The attention targets are probability vectors, and their meta.json names the model and the script.
    @Test func attentionTargetsAreProbabilityVectors() throws {
        let root = TestPaths.bundledDataDirectory.appendingPathComponent("attention")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") && $0 != "README.md" }
        #expect(names.count >= 5)
        for name in names {
            let folder = root.appendingPathComponent(name)
            let b = try MatrixMarket.readVector(from: folder.appendingPathComponent("b.mtx").path)
            #expect(b.allSatisfy { $0 >= 0 }, "\(name): negative entry in b")
            #expect(abs(b.reduce(0, +) - 1) <= 1e-12, "\(name): b sums to \(b.reduce(0, +))")   // written with 17 digits
            let meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("meta.json"))) as? [String: Any])
            for key in ["text", "layer", "head", "query_token_index", "model", "script_version"] {
                #expect(meta[key] != nil, "\(name)/meta.json lacks \(key)")
            }
        }
    }
}

/// The guide's library example (`hyperreg-example`) runs and recovers the exact softmax fit.
@Test func libraryExampleRecoversTheAttentionRow() throws {
    let hyperregURL = try #require(Binary.url, "the hyperreg binary was not found; run `swift build` first")
    let example = hyperregURL.deletingLastPathComponent().appendingPathComponent("hyperreg-example")
    try #require(FileManager.default.isExecutableFile(atPath: example.path), "\(example.path) not built; run `swift build`")
    let dir = try TestPaths.makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let folder = TestPaths.bundledDataDirectory.appendingPathComponent("attention/keys-river-l0h3")
    let xPath = dir.appendingPathComponent("x.mtx").path
    let process = Process()
    process.executableURL = example
    process.arguments = [folder.path, xPath]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    #expect(text.contains("||u(Ax)/alpha - b||_1 = "), "unexpected output: \(text)")
    // b = softmax(A x_true) exactly and K has condition number 36: x_true is recovered to round-off.
    let x = try MatrixMarket.readVector(from: xPath)
    let xTrue = try MatrixMarket.readVector(from: folder.appendingPathComponent("x_true.mtx").path)
    try #require(x.count == xTrue.count)
    let error = zip(x, xTrue).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() / xTrue.map { $0 * $0 }.reduce(0, +).squareRoot()
    #expect(error <= 1e-8, "||x - x_true|| / ||x_true|| = \(error)")
}
