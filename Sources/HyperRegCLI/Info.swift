import ArgumentParser
import Foundation
import MatrixMarket
import SparseCore

/// `hyperreg info`: header, shape, nonzeros and basic norms of a Matrix Market file.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the header, shape, nonzeros and basic norms of a Matrix Market file.")

    @Argument(help: "A Matrix Market file (.gz, or - for stdin).")
    var file: String

    @Option(name: .long, help: ArgumentHelp("Refuse, before reading, a file whose declared storage exceeds this (bytes, or with k, M, G, T). Default: the memory available now, or ulimit -v if lower.", valueName: "size"))
    var memoryLimit: String?

    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if let text = memoryLimit, parseMemorySize(text) == nil {
            throw ValidationError("--memory-limit must be a positive size such as 8G, 512M or 1000000000, got '\(text)'")
        }
    }

    func run() throws {
        threadOptions.apply()
        let header: MatrixMarketHeader
        let a: CSRMatrix
        let limit = MemoryLimit.current(option: memoryLimit.flatMap(parseMemorySize))
        do {
            (header, a) = try MatrixMarket.readMatrix(from: file, options: MatrixMarketReadOptions(memoryLimit: limit.readerLimit))
        } catch { throw CLIError("\(error)") }
        var lines: [String] = []
        lines.append("file: \(file)")
        lines.append("header: matrix \(header.format.rawValue) \(header.field.rawValue) \(header.symmetry.rawValue)")
        lines.append("shape: \(header.rowCount) x \(header.columnCount)")
        lines.append("stored entries in file: \(header.storedEntryCount)")
        lines.append("nonzeros (after expansion, duplicates summed): \(a.nonzeroCount)")
        var frob = 0.0, maxAbs = 0.0, explicitZeros = 0
        for v in a.values {
            frob += v * v
            maxAbs = max(maxAbs, abs(v))
            if v == 0 { explicitZeros += 1 }
        }
        lines.append("explicit zeros: \(explicitZeros)")
        lines.append("frobenius norm: \(frob.squareRoot())")
        lines.append("max |entry|: \(maxAbs)")
        if a.rowCount > 0 {
            var minRow = Int.max, maxRow = 0, emptyRows = 0
            for i in 0..<a.rowCount {
                let k = a.nonzeroCount(inRow: i)
                minRow = min(minRow, k); maxRow = max(maxRow, k)
                if k == 0 { emptyRows += 1 }
            }
            lines.append("nonzeros per row: min \(minRow), max \(maxRow), mean \(Double(a.nonzeroCount) / Double(a.rowCount))")
            lines.append("empty rows: \(emptyRows)")
        }
        var columnSeen = [Bool](repeating: false, count: a.columnCount)
        for j in a.columnIndices { columnSeen[Int(j)] = true }
        lines.append("empty columns: \(columnSeen.filter { !$0 }.count)")
        if a.columnCount == 1 || a.rowCount == 1 {
            let sum = a.values.reduce(0, +)
            lines.append("vector sum: \(sum), min: \(a.values.min() ?? 0), max: \(a.values.max() ?? 0) (stored entries)")
        }
        if !header.comments.isEmpty { lines.append("comments: \(header.comments.count) line(s); first: \(header.comments[0])") }
        try writeStandardOutput(lines.joined(separator: "\n") + "\n")
    }
}
