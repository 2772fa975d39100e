// The malformed Matrix Market corpus (Tests/Malformed, described by MANIFEST.tsv) run
// through the built `hyperreg` binary: every file, as A and where sensible as b, w and x0,
// must give exit status 1, an error on stderr naming the file, the line and the problem,
// and leave no output file (x or report) behind.

import Foundation
import HyperRegTestSupport
import MatrixMarket
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
        // A valid 3 x 1 problem around the broken file.
        let a = dir.appendingPathComponent("A.mtx").path, v = dir.appendingPathComponent("v.mtx").path
        try MatrixMarket.writeArray([1, 2, 3], rowCount: 3, columnCount: 1, to: a)
        try MatrixMarket.writeArray([0.2, 0.3, 0.5], rowCount: 3, columnCount: 1, to: v)
        let x = dir.appendingPathComponent("x.mtx").path, report = dir.appendingPathComponent("report.json").path
        let outputs = ["--output", x, "--report", report]
        var runs: [[String]] = []
        if entry.role != "vector" {
            runs.append(["solve", entry.path, v] + outputs)
            runs.append(["info", entry.path])
        }
        if entry.role != "matrix" {
            runs.append(["solve", a, entry.path] + outputs)
            runs.append(["solve", a, v, "--weights", entry.path] + outputs)
            runs.append(["solve", a, v, "--x0", entry.path] + outputs)
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
            #expect(left == ["A.mtx", "v.mtx"], "\(shown): left behind \(left)")
        }
    }
}
