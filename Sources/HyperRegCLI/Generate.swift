import ArgumentParser
import Foundation
import HyperReg
import MatrixMarket
import SparseCore

/// `hyperreg generate`: a planted problem written as A.mtx, b.mtx, w.mtx, x_true.mtx.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a reproducible planted problem (A, b, w, x_true) in a directory.",
        discussion: """
        A has each entry present with probability --density, standard normal values (|N(0,1)| for sinh);
        x_true is scaled so that (A x_true)_i has standard deviation about --scale; b = f(A x_true) / sum f(A x_true),
        times exp(--noise * N(0,1)) entrywise and renormalised when --noise > 0. The same options give the same files.
        """
    )

    @Option(name: .long, parsing: .unconditional, help: "n, the number of rows of A.")
    var rows: Int

    @Option(name: .long, parsing: .unconditional, help: "d, the number of columns of A.")
    var cols: Int

    @Option(name: .long, parsing: .unconditional, help: "Probability that an entry of A is stored, in (0, 1].")
    var density: Double

    @Option(name: .long, help: "The function u: exp, cosh or sinh.")
    var function: FunctionKind = .exp

    @Option(name: .long, parsing: .unconditional, help: "The weight w_i of every row (written to w.mtx).")
    var weight: Double = 1

    @Option(name: .long, parsing: .unconditional, help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: .long, parsing: .unconditional, help: "Log-normal noise level on b (0 = noiseless).")
    var noise: Double = 0

    @Option(name: .long, parsing: .unconditional, help: "Standard deviation of (A x_true)_i, about.")
    var scale: Double = 0.5

    @Option(name: .long, parsing: .unconditional, help: "Ill-conditioning: column j of A times R^(j/(d-1) - 1/2), x_true divided by it (1 = none).")
    var columnScaleRange: Double = 1

    @Option(name: .long, help: "Directory for A.mtx, b.mtx, w.mtx, x_true.mtx (created if missing).")
    var outputDir: String

    @OptionGroup var threadOptions: ThreadOptions

    /// The generator's settings from the options.
    private var settings: PlantedProblem.Settings {
        var settings = PlantedProblem.Settings(rows: rows, columns: cols, density: density)
        settings.function = function
        settings.weight = weight
        settings.seed = seed
        settings.noise = noise
        settings.scale = scale
        settings.columnScaleRange = columnScaleRange
        return settings
    }

    /// The library's rules (`PlantedProblem.Settings.validate`), worded with option names.
    func validate() throws {
        do { try settings.validate() } catch {
            switch error {
            case .size: throw ValidationError("--rows and --cols must be >= 1 (and --cols <= \(Int32.max)), got \(rows) x \(cols)")
            case .density(let p): throw ValidationError("--density must be in (0, 1], got \(p)")
            case .weight(let w): throw ValidationError("--weight must be finite and >= 0, got \(w)")
            case .noise(let v): throw ValidationError("--noise must be finite and >= 0, got \(v)")
            case .scale(let v): throw ValidationError("--scale must be finite and > 0, got \(v)")
            case .columnScaleRange(let r): throw ValidationError("--column-scale-range must be finite and >= 1, got \(r)")
            case .tooManyNonzeros(let e): throw ValidationError("--rows x --cols x --density asks for about \(Int(e)) nonzeros; at most 2e9 are supported")
            }
        }
    }

    func run() throws {
        threadOptions.apply()
        // The folder and the four outputs are checked before generating (docs/cli.md, "Outputs").
        let path = try outputFolder(outputDir)
        let names = ["A.mtx", "b.mtx", "w.mtx", "x_true.mtx"]
        let outputs = try OutputPlan(outputs: names.map { ($0, path($0)) }, inputs: [])
        let planted: PlantedProblem
        do { planted = try PlantedProblem.generate(settings) } catch { throw CLIError("\(error)") }
        let command = "hyperreg generate --rows \(rows) --cols \(cols) --density \(density) --function \(function.rawValue) --weight \(weight) --seed \(seed) --noise \(noise) --scale \(scale)" + (columnScaleRange > 1 ? " --column-scale-range \(columnScaleRange)" : "")
        var bytes: [String: [[UInt8]]] = [:]
        do {
            bytes["A.mtx"] = MatrixMarket.coordinateText(planted.matrix, comments: ["A of a planted problem: \(command)"])
            bytes["b.mtx"] = try MatrixMarket.arrayText(planted.target, rowCount: rows, columnCount: 1, name: path("b.mtx"), comments: ["b = f(A x_true)/sum: \(command)"])
            bytes["w.mtx"] = try MatrixMarket.arrayText(planted.weights, rowCount: rows, columnCount: 1, name: path("w.mtx"), comments: ["w: \(command)"])
            bytes["x_true.mtx"] = try MatrixMarket.arrayText(planted.xTrue, rowCount: cols, columnCount: 1, name: path("x_true.mtx"), comments: ["x_true: \(command)"])
        } catch {
            throw CLIError("\(error)")
        }
        let summary = "wrote \(path("A.mtx")) (\(rows) x \(cols), \(planted.matrix.nonzeroCount) nonzeros), b.mtx, w.mtx, x_true.mtx\n"
        try outputs.commit(bytes, standardOutput: Array(summary.utf8))
    }
}
