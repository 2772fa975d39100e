// Pre-split input (issue 17): a matrix or vector written as K row-block part files plus a
// manifest (`hyperreg partition`), and the collective reader with which rank r reads only
// part r. Layout and checks: docs/cli.md ("partition") and docs/scale-out-reading.md.
//
// Part r of K holds the rows `RowDistribution.block(rows: n, ranks: K, rank: r)`, numbered
// locally (row i of the part file is global row offset + i), as a standalone Matrix Market
// file (`coordinate real general` for a matrix, `array real general` for a vector) whose
// comment line `%hyperreg-part part=r parts=K row-offset=... global-rows=... global-columns=...
// global-nonzeros=...` lets the reader check it belongs where the manifest says. Values are
// written as shortest round-trip decimals of the assembled matrix (duplicates already summed,
// symmetric storage already expanded), so reading the parts back gives the whole-file bits.

import SparseCore

/// Writing and reading pre-split (partitioned) input.
public enum MatrixMarketPartition {
    /// The suffix of a manifest: a path ending in it is pre-split input.
    public static let manifestSuffix = ".parts"

    /// True when `path` names a partition manifest (ends in `.parts`).
    public static func isManifest(_ path: String) -> Bool { path.hasSuffix(manifestSuffix) }

    /// The name stem of an input: its last path component without `.gz` and `.mtx`
    /// (`data/A.mtx.gz` -> `A`; standard input `-` -> `stdin`).
    public static func stem(of path: String) -> String {
        if path == "-" { return "stdin" }
        var name = Substring(baseName(of: path))
        for suffix in [".gz", ".GZ"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
        for suffix in [".mtx", ".MTX"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
        return name.isEmpty ? "input" : String(name)
    }

    /// `STEM.part-R-of-K.mtx` (R from 0, the rank that reads it).
    public static func partFileName(stem: String, part: Int, parts: Int) -> String { "\(stem).part-\(part)-of-\(parts).mtx" }

    /// `STEM.parts`.
    public static func manifestName(stem: String) -> String { stem + manifestSuffix }

    /// The files of a split matrix: the manifest's text and each part's text (in chunks
    /// whose concatenation is the file), part r holding `RowDistribution.block(rows:ranks:rank:)`.
    ///
    /// - Parameters:
    ///   - matrix: the whole matrix (as `MatrixMarket.readMatrix` returns it).
    ///   - stem: the name stem of the files (`stem(of:)`).
    ///   - source: what the comments call the input (its path as given).
    ///   - parts: K >= 1.
    public static func matrixFiles(_ matrix: CSRMatrix, stem: String, source: String, parts: Int) -> (manifest: [UInt8], parts: [[[UInt8]]]) {
        precondition(parts >= 1)
        let n = matrix.rowCount
        var files: [[[UInt8]]] = []
        var lines: [String] = []
        for r in 0 ..< parts {
            let rows = RowDistribution.block(rows: n, ranks: parts, rank: r)
            let first = matrix.rowOffsets[rows.lowerBound], last = matrix.rowOffsets[rows.upperBound]
            let block = CSRMatrix(uncheckedRowCount: rows.count, columnCount: matrix.columnCount,
                                  rowOffsets: matrix.rowOffsets[rows.lowerBound ... rows.upperBound].map { $0 - first },
                                  columnIndices: Array(matrix.columnIndices[first ..< last]), values: Array(matrix.values[first ..< last]))
            let comments = partComments(part: r, parts: parts, rows: rows, globalRows: n, globalColumns: matrix.columnCount,
                                        globalNonzeros: matrix.nonzeroCount, source: source)
            files.append(Writer.coordinateText(block, comments: comments))
            lines.append("part \(r) \(rows.lowerBound) \(rows.count) \(last - first) \(partFileName(stem: stem, part: r, parts: parts))")
        }
        let manifest = manifestText(kind: "matrix", source: source, rows: n, columns: matrix.columnCount,
                                    nonzeros: matrix.nonzeroCount, parts: parts, partLines: lines)
        return (manifest, files)
    }

    /// The files of a split vector (each part an `array` file of its entries), as
    /// `matrixFiles` does for a matrix.
    public static func vectorFiles(_ vector: [Double], stem: String, source: String, parts: Int) -> (manifest: [UInt8], parts: [[[UInt8]]]) {
        precondition(parts >= 1)
        let n = vector.count
        var files: [[[UInt8]]] = []
        var lines: [String] = []
        for r in 0 ..< parts {
            let rows = RowDistribution.block(rows: n, ranks: parts, rank: r)
            let comments = partComments(part: r, parts: parts, rows: rows, globalRows: n, globalColumns: 1, globalNonzeros: n, source: source)
            // Cannot fail: the count matches the shape.
            files.append((try? Writer.arrayText(Array(vector[rows]), rowCount: rows.count, columnCount: 1, name: source, comments: comments)) ?? [])
            lines.append("part \(r) \(rows.lowerBound) \(rows.count) \(rows.count) \(partFileName(stem: stem, part: r, parts: parts))")
        }
        let manifest = manifestText(kind: "vector", source: source, rows: n, columns: 1, nonzeros: n, parts: parts, partLines: lines)
        return (manifest, files)
    }

    private static func partComments(part: Int, parts: Int, rows: Range<Int>, globalRows: Int, globalColumns: Int,
                                     globalNonzeros: Int, source: String) -> [String] {
        let span = rows.isEmpty ? "no rows" : "rows \(rows.lowerBound + 1)-\(rows.upperBound)"
        return ["hyperreg-part part=\(part) parts=\(parts) row-offset=\(rows.lowerBound) global-rows=\(globalRows) global-columns=\(globalColumns) global-nonzeros=\(globalNonzeros)",
                "part \(part) of \(parts) of \(source) (written by hyperreg partition): \(span) of \(globalRows), numbered from 1 here (global row = row-offset + row)"]
    }

    private static func manifestText(kind: String, source: String, rows: Int, columns: Int, nonzeros: Int, parts: Int, partLines: [String]) -> [UInt8] {
        var text = "%%HyperRegPartition \(kind)\n"
        text += "% \(escapingControlCharacters(source)) split by rows into \(parts) parts by hyperreg partition; part lines: index, row offset, rows, stored entries, file (beside this manifest)\n"
        text += "source \(escapingControlCharacters(source))\nrows \(rows)\ncolumns \(columns)\nnonzeros \(nonzeros)\nparts \(parts)\n"
        for line in partLines { text += line + "\n" }
        return Array(text.utf8)
    }

    // MARK: Reading

    /// What a manifest declares, read without any part file: for a memory plan or a shape
    /// check before a distributed read.
    public struct Summary: Sendable, Equatable {
        /// `matrix` or `vector`.
        public let kind: String
        /// Rows of the whole input.
        public let rows: Int
        /// Columns of the whole input (1 for a vector).
        public let columns: Int
        /// Stored entries of the whole input (its length for a vector).
        public let nonzeros: Int
        /// The number of parts (ranks that read them).
        public let parts: Int
        /// The part files, part r at index r (resolved against the manifest's folder).
        public let partPaths: [String]
    }

    /// Reads and checks a manifest alone (banner, counts, row blocks following
    /// `RowDistribution.block`), not its parts and not against a run's rank count.
    ///
    /// - Throws: `MatrixMarketError` naming the manifest and line.
    public static func summary(manifest path: String) throws(MatrixMarketError) -> Summary {
        let m = try Manifest.read(path: path, kind: nil, ranks: nil)
        return Summary(kind: m.kind, rows: m.rows, columns: m.columns, nonzeros: m.nonzeros, parts: m.parts.count, partPaths: m.parts.map(\.path))
    }

    /// Reads this rank's part of a split matrix; called collectively with the manifest's
    /// path. Rank r reads part r only (with `MatrixMarket.readMatrix`). Checks that the
    /// manifest has as many parts as the communicator has ranks, that its row blocks follow
    /// `RowDistribution.block`, and that the part file's shape and `%hyperreg-part` line agree
    /// with the manifest.
    ///
    /// - Throws: `MatrixMarketError` naming the manifest or the part file (and line), the
    ///   same on every rank.
    public static func readMatrixBlock(manifest path: String, communicator comm: any Communicator,
                                       options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> MatrixBlock {
        try comm.agreeing { () throws(MatrixMarketError) -> MatrixBlock in
            let manifest = try Manifest.read(path: path, kind: "matrix", ranks: comm.size)
            let part = manifest.parts[comm.rank]
            let (header, block) = try Reader.readMatrix(path: part.path, options: options)
            try manifest.check(header: header, part: part, nonzeros: block.nonzeroCount)
            return MatrixBlock(matrix: block, rowOffset: part.offset, globalRowCount: manifest.rows, globalNonzeroCount: manifest.nonzeros)
        }
    }

    /// Reads this rank's slice of a split vector (see `readMatrixBlock(manifest:communicator:options:)`).
    public static func readVectorSlice(manifest path: String, communicator comm: any Communicator,
                                       options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> VectorSlice {
        try comm.agreeing { () throws(MatrixMarketError) -> VectorSlice in
            let manifest = try Manifest.read(path: path, kind: "vector", ranks: comm.size)
            let part = manifest.parts[comm.rank]
            let header = try Reader.checkHeader(path: part.path, purpose: .vector, options: options)
            guard header.columnCount == 1 else {
                throw MatrixMarketError(path: part.path, message: "a part of a split vector is an n x 1 file, found \(header.rowCount) x \(header.columnCount)")
            }
            let values = try Reader.readVector(path: part.path, options: options)
            try manifest.check(header: header, part: part, nonzeros: values.count)
            return VectorSlice(values: values, offset: part.offset, globalCount: manifest.rows)
        }
    }
}

/// A parsed manifest.
private struct Manifest {
    struct Part {
        let index: Int
        let offset: Int
        let rows: Int
        let entries: Int
        let path: String
    }

    let path: String
    let kind: String
    let rows: Int
    let columns: Int
    let nonzeros: Int
    let parts: [Part]

    /// Parses and checks the manifest at `path` for a run of `ranks` ranks.
    /// `kind` nil accepts either kind; `ranks` nil skips the check against the run.
    static func read(path: String, kind expectedKind: String?, ranks: Int?) throws(MatrixMarketError) -> Manifest {
        let name = displayName(path)
        let text: [UInt8]
        switch try InputSource.open(path) {
        case .bytes(let input): text = Array(input.buffer)
        case .stream: throw MatrixMarketError(path: name, message: "a partition manifest must be a regular file")
        }
        guard text.count < 1 << 24 else { throw MatrixMarketError(path: name, message: "not a partition manifest: larger than 16 MiB") }
        let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        func fail(_ line: Int?, _ message: String) -> MatrixMarketError { MatrixMarketError(path: name, line: line, message: message) }
        let banner = lines.first?.split(separator: " ").map(String.init) ?? []
        guard banner.count == 2, banner[0] == "%%HyperRegPartition", banner[1] == "matrix" || banner[1] == "vector" else {
            throw fail(1, "not a partition manifest: the first line must be '%%HyperRegPartition matrix' or '%%HyperRegPartition vector' (hyperreg partition writes it)")
        }
        let kind = banner[1]
        if let expectedKind, kind != expectedKind {
            throw fail(1, "this manifest describes a split \(kind), but a \(expectedKind) is expected here")
        }
        var values: [String: (Int, Int)] = [:]
        var parts: [Part] = []
        var partLines: [Int] = []
        let folderPath = folder(of: path)
        for (k, raw) in lines.enumerated().dropFirst() {
            let line = k + 1
            let trimmed = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
            if trimmed.isEmpty || trimmed.hasPrefix("%") { continue }
            let words = trimmed.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).map(String.init)
            guard let key = words.first else { continue }
            switch key {
            case "source": continue
            case "rows", "columns", "nonzeros", "parts":
                guard words.count == 2, let v = Int(words[1]), v >= 0 else { throw fail(line, "expected '\(words[0]) N' with N >= 0") }
                values[words[0]] = (v, line)
            case "part":
                guard words.count == 6, let index = Int(words[1]), let offset = Int(words[2]), let rows = Int(words[3]), let entries = Int(words[4]),
                      offset >= 0, rows >= 0, entries >= 0 else {
                    throw fail(line, "expected 'part INDEX ROW-OFFSET ROWS ENTRIES FILE'")
                }
                guard index == parts.count else { throw fail(line, "part \(index) where part \(parts.count) was expected (parts are listed in order from 0)") }
                let file = words[5]
                parts.append(Part(index: index, offset: offset, rows: rows, entries: entries,
                                  path: file.hasPrefix("/") ? file : (folderPath == "." ? file : folderPath + "/" + file)))
                partLines.append(line)
            default:
                throw fail(line, "unknown line '\(escapingControlCharacters(String(trimmed.prefix(60))))'")
            }
        }
        func value(_ key: String) throws(MatrixMarketError) -> Int {
            guard let v = values[key] else { throw fail(nil, "the manifest has no '\(key)' line") }
            return v.0
        }
        let n = try value("rows"), d = try value("columns"), nnz = try value("nonzeros"), count = try value("parts")
        guard count >= 1 else { throw fail(values["parts"]?.1, "a split has at least 1 part") }
        guard parts.count == count else { throw fail(nil, "the manifest declares \(count) parts but lists \(parts.count)") }
        if let ranks, count != ranks {
            throw fail(values["parts"]?.1, "the input is split into \(count) parts but this run has \(ranks) ranks: run with \(count) ranks, or split it again with hyperreg partition --parts \(ranks)")
        }
        var total = 0
        for (r, part) in parts.enumerated() {
            let block = RowDistribution.block(rows: n, ranks: count, rank: r)
            guard part.offset == block.lowerBound, part.rows == block.count else {
                throw fail(partLines[r], "part \(r) holds rows \(part.offset + 1)-\(part.offset + part.rows), but a run of \(count) ranks gives rank \(r) rows \(block.lowerBound + 1)-\(block.upperBound)")
            }
            total += part.entries
        }
        guard total == nnz else { throw fail(values["nonzeros"]?.1, "the parts hold \(total) entries in all, but the manifest declares \(nnz)") }
        return Manifest(path: name, kind: kind, rows: n, columns: d, nonzeros: nnz, parts: parts)
    }

    /// Checks that a part file (its header, and its entry count) is the one the manifest lists.
    func check(header: MatrixMarketHeader, part: Part, nonzeros entries: Int) throws(MatrixMarketError) {
        let name = displayName(part.path)
        func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: name, message: message) }
        guard header.rowCount == part.rows, header.columnCount == columns else {
            throw fail("part \(part.index) of \(path) should be \(part.rows) x \(columns), but its size line says \(header.rowCount) x \(header.columnCount)")
        }
        guard let line = header.comments.first(where: { $0.hasPrefix("hyperreg-part ") }) else {
            throw fail("not a part written by hyperreg partition: no '%hyperreg-part' comment line")
        }
        var fields: [String: Int] = [:]
        for word in line.split(separator: " ").dropFirst() {
            let pair = word.split(separator: "=", maxSplits: 1)
            if pair.count == 2, let v = Int(pair[1]) { fields[String(pair[0])] = v }
        }
        let expected: [(String, Int)] = [("part", part.index), ("parts", parts.count), ("row-offset", part.offset),
                                         ("global-rows", rows), ("global-columns", columns), ("global-nonzeros", nonzeros)]
        for (key, want) in expected {
            guard fields[key] == want else {
                let found = fields[key].map(String.init) ?? "nothing"
                throw fail("its %hyperreg-part line says \(key)=\(found), but \(path) lists it with \(key)=\(want): the part and the manifest come from different splits")
            }
        }
        guard entries == part.entries else {
            throw fail("holds \(entries) entries, but \(path) lists \(part.entries) for part \(part.index)")
        }
    }
}
