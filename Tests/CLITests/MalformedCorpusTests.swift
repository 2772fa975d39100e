// The malformed Matrix Market corpus (Tests/Malformed, described by MANIFEST.tsv) run
// through the built `hyperreg` binary: every file, as A and where sensible as b, w and x0,
// must give exit status 1, an error on stderr naming the file, the line and the problem,
// and leave no output file (x or report) behind.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import SparseCore
import Testing

/// One corpus file and what the manifest expects of it.
struct CorpusEntry: Sendable, CustomTestStringConvertible {
    /// File name inside Tests/Malformed.
    let file: String
    /// `any`, `matrix` (only meaningful as A) or `vector` (only as b, w, x0).
    let role: String
    /// Expected 1-based line, nil for errors about the whole file (gzip damage).
    let line: Int?
    /// A fragment the message must contain.
    let fragment: String
    var testDescription: String { file }

    var path: String { CorpusEntry.directory.appendingPathComponent(file).path }
    static let directory = TestPaths.packageRoot.appendingPathComponent("Tests/Malformed")

    /// Every manifest row (an unreadable manifest gives no rows, which a test below rejects).
    static let all: [CorpusEntry] = {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("MANIFEST.tsv"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { row in
            let f = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return CorpusEntry(file: f[0], role: f[1], line: Int(f[2]), fragment: f[3])
        }
    }()
}

@Suite("Malformed corpus through the CLI", .serialized)
struct MalformedCorpusTests {
    @Test func manifestListsEveryFileAndAtLeastForty() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: CorpusEntry.directory.path)
            .filter { $0.hasSuffix(".mtx") || $0.hasSuffix(".mtx.gz") }
        #expect(CorpusEntry.all.count >= 40)
        #expect(Set(onDisk) == Set(CorpusEntry.all.map(\.file)))
    }

    @Test(arguments: CorpusEntry.all)
    func corpusFileFailsCleanly(_ entry: CorpusEntry) throws {
        let dir = try TestPaths.makeTemporaryDirectory("hyperreg-malformed")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A valid problem around the broken file, shaped as its header declares where the
        // header reads, so that the file's own defect is the first error: the memory plan
        // compares the inputs' shapes from their headers before any data section is read.
        // (A declared size beyond 100 000 falls back to 3: the file's header check fails first.)
        let declared = try? MatrixMarket.readHeader(from: entry.path)
        func fit(_ k: Int?) -> Int { k.map { $0 >= 1 && $0 <= 100_000 ? $0 : 3 } ?? 3 }
        let rows = fit(declared?.rowCount)
        let length = fit(declared.map { $0.rowCount == 1 || $0.columnCount == 1 ? max($0.rowCount, $0.columnCount) : 3 })
        let a = dir.appendingPathComponent("A.mtx").path, v = dir.appendingPathComponent("v.mtx").path
        let vectorOfA = dir.appendingPathComponent("u.mtx").path
        // As A: b has A's declared rows. As b, w or x0: an L x L diagonal A and b of length L.
        try MatrixMarket.writeArray((0 ..< rows).map { Double($0 + 1) / Double(rows * (rows + 1) / 2) }, rowCount: rows, columnCount: 1, to: v)
        try MatrixMarket.writeCoordinate(CSRMatrix(rowCount: length, columnCount: length, rowOffsets: Array(0 ... length),
                                                   columnIndices: (0 ..< length).map { Int32($0) }, values: Array(repeating: 1, count: length)), to: a)
        try MatrixMarket.writeArray(Array(repeating: 1 / Double(length), count: length), rowCount: length, columnCount: 1, to: vectorOfA)
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("report.json").path
        let outputs = ["--output", x, "--report", report]
        var runs: [[String]] = []
        if entry.role != "vector" {
            runs.append(["solve", entry.path, v] + outputs)
            runs.append(["info", entry.path])
        }
        if entry.role != "matrix" {
            runs.append(["solve", a, entry.path] + outputs)
            runs.append(["solve", a, vectorOfA, "--weights", entry.path] + outputs)
            runs.append(["solve", a, vectorOfA, "--x0", entry.path] + outputs)
        }
        for arguments in runs {
            let r = try hyperreg(arguments)
            let shown = arguments.joined(separator: " ")
            #expect(r.status == 1, "\(shown): exit \(r.status), stderr: \(r.stderr)")
            let location = entry.line.map { "\(entry.path):\($0): " } ?? "\(entry.path): "
            #expect(r.stderr.contains(location), "\(shown): stderr does not name \(location): \(r.stderr)")
            #expect(r.stderr.contains(entry.fragment), "\(shown): stderr lacks '\(entry.fragment)': \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(shown): stdout: \(r.stdout.prefix(200))")
            // One line of printable text: quoted bytes of a binary file are escaped.
            #expect(!r.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(shown): control bytes on stderr")
            // Nothing written: no x, no report, no temporary files beside them.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
            #expect(left == ["A.mtx", "u.mtx", "v.mtx"], "\(shown): left behind \(left)")
        }
    }
}
