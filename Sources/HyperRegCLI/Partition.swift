import ArgumentParser
import Foundation
import MatrixMarket
import SparseCore

/// `hyperreg partition`: A (and row vectors b, w) split into K row-block part files and a
/// manifest per input, for runs whose ranks read only their own part (docs/cli.md,
/// docs/scale-out.md).
struct Partition: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split A (and the row vectors b, w) by rows into K part files, one per rank of a distributed run.",
        discussion: """
        Part r of K holds the rows a run of K ranks gives rank r (the even contiguous split, the first n mod K parts \
        one row more), numbered from 1 in its own file, which is a valid Matrix Market file (coordinate real general for \
        A, array real general for a vector); its comment line '%hyperreg-part part=r parts=K row-offset=... global-rows=... \
        global-columns=... global-nonzeros=...' lets the reader check that it belongs. Files: DIR/STEM.part-R-of-K.mtx \
        (R from 0) and the manifest DIR/STEM.parts, STEM being the input's name without .mtx/.gz. Give the manifests \
        (the .parts paths) to hyperreg solve in place of the files: each rank then reads only its part, and the run \
        must have K ranks. Values are written as shortest round-trip decimals of the matrix as read (symmetric storage \
        expanded, duplicates summed), so the parts read back bit for bit. Prints a summary to stdout; writes all files \
        together or none.
        """
    )

    @Argument(help: "The matrix A (n x d), Matrix Market (.gz, or - for stdin).")
    var matrix: String

    @Argument(help: "Row vectors to split alike (b, w: n x 1 or 1 x n Matrix Market files).")
    var vectors: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "K, the number of parts (the number of ranks that will read them), >= 1.")
    var parts: Int

    @Option(name: .long, help: "Directory for the part files and manifests (created if missing).")
    var outputDir: String

    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if parts < 1 { throw ValidationError("--parts must be >= 1, got \(parts)") }
        if ([matrix] + vectors).filter({ $0 == "-" }).count > 1 { throw ValidationError("only one input can be read from stdin (-)") }
    }

    func run() throws {
        threadOptions.apply()
        let path = try outputFolder(outputDir)
        let inputs = [matrix] + vectors
        let stems = inputs.map(MatrixMarketPartition.stem(of:))
        // Every output named up front: refused if it is an input or another output.
        var names: [String] = []
        for stem in stems {
            names.append(MatrixMarketPartition.manifestName(stem: stem))
            for r in 0 ..< parts { names.append(MatrixMarketPartition.partFileName(stem: stem, part: r, parts: parts)) }
        }
        let outputs = try OutputPlan(outputs: names.map { ($0, path($0)) },
                                     inputs: inputs.enumerated().map { ([0: "A", 1: "b", 2: "w"][$0.offset] ?? "vector \($0.offset)", $0.element) })
        let a: CSRMatrix
        var vectorValues: [[Double]] = []
        do {
            a = try MatrixMarket.readMatrix(from: matrix).matrix
            for v in vectors { vectorValues.append(try MatrixMarket.readVector(from: v)) }
        } catch { throw CLIError("\(error)") }
        for (v, values) in zip(vectors, vectorValues) where values.count != a.rowCount {
            throw CLIError("\(v): the vector has \(values.count) entries but \(matrix) has \(a.rowCount) rows")
        }
        var bytes: [String: [[UInt8]]] = [:]
        func add(_ stem: String, _ files: (manifest: [UInt8], parts: [[[UInt8]]])) {
            bytes[MatrixMarketPartition.manifestName(stem: stem)] = [files.manifest]
            for (r, chunks) in files.parts.enumerated() { bytes[MatrixMarketPartition.partFileName(stem: stem, part: r, parts: parts)] = chunks }
        }
        add(stems[0], MatrixMarketPartition.matrixFiles(a, stem: stems[0], source: matrix, parts: parts))
        for (k, values) in vectorValues.enumerated() {
            add(stems[k + 1], MatrixMarketPartition.vectorFiles(values, stem: stems[k + 1], source: vectors[k], parts: parts))
        }
        var summary = "wrote \(path(MatrixMarketPartition.manifestName(stem: stems[0]))) (\(a.rowCount) x \(a.columnCount), \(a.nonzeroCount) nonzeros, \(parts) parts)"
        for stem in stems.dropFirst() { summary += ", \(path(MatrixMarketPartition.manifestName(stem: stem)))" }
        try outputs.commit(bytes, standardOutput: Array((summary + "\n").utf8))
    }
}
