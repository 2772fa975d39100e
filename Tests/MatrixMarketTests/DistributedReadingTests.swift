// Distributed reading (issue 17): K ranks as threads (ThreadGroup) read one file, each its
// byte range; the blocks, concatenated, must equal the whole-file reader's matrix bit for
// bit, and a bad line anywhere must make every rank throw the whole-file reader's error.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import SparseCore
import Testing

/// Every rank's outcome (a failing rank's error kept, not rethrown, so that all are seen).
func runRanks<R: Sendable>(_ ranks: Int, _ body: @escaping @Sendable (any Communicator) throws(MatrixMarketError) -> R) -> [Result<R, MatrixMarketError>] {
    ThreadGroup.run(ranks: ranks) { comm -> Result<R, MatrixMarketError> in
        do throws(MatrixMarketError) { return .success(try body(comm)) } catch { return .failure(error) }
    }
}

/// The blocks stacked in rank order, checking each block's offset and the global counts.
func stack(_ blocks: [MatrixBlock], sourceLocation: SourceLocation = #_sourceLocation) -> CSRMatrix {
    var offsets = [0], columns: [Int32] = [], values: [Double] = []
    var row = 0
    for (r, b) in blocks.enumerated() {
        #expect(b.rowOffset == row, "rank \(r) offset", sourceLocation: sourceLocation)
        #expect(b.rowOffset ..< b.rowOffset + b.matrix.rowCount == RowDistribution.block(rows: b.globalRowCount, ranks: blocks.count, rank: r),
                "rank \(r) holds the RowDistribution block", sourceLocation: sourceLocation)
        #expect(b.globalRowCount == blocks[0].globalRowCount && b.globalNonzeroCount == blocks[0].globalNonzeroCount, sourceLocation: sourceLocation)
        for i in 0 ..< b.matrix.rowCount { offsets.append(columns.count + b.matrix.rowOffsets[i + 1]) }
        columns += b.matrix.columnIndices
        values += b.matrix.values
        row += b.matrix.rowCount
    }
    return CSRMatrix(uncheckedRowCount: row, columnCount: blocks.first?.matrix.columnCount ?? 0, rowOffsets: offsets, columnIndices: columns, values: values)
}

/// Same shape, structure and value bits (so -0.0 and NaN payloads count).
func expectSameBits(_ a: CSRMatrix, _ b: CSRMatrix, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.rowCount == b.rowCount && a.columnCount == b.columnCount, "\(what): shape", sourceLocation: sourceLocation)
    #expect(a.rowOffsets == b.rowOffsets, "\(what): row offsets", sourceLocation: sourceLocation)
    #expect(a.columnIndices == b.columnIndices, "\(what): columns", sourceLocation: sourceLocation)
    #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(what): value bits", sourceLocation: sourceLocation)
}

/// Reads `path` whole and with 1 ... 4 ranks; checks the blocks against the whole matrix.
func checkDistributedMatrix(_ path: String, ranks: [Int] = [1, 2, 3, 4], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let whole = try MatrixMarket.readMatrix(from: path).matrix
    for k in ranks {
        let results = runRanks(k) { comm throws(MatrixMarketError) in try MatrixMarket.readMatrixBlock(from: path, communicator: comm) }
        let blocks = try results.map { try $0.get() }
        expectSameBits(stack(blocks), whole, "\(path) with \(k) ranks", sourceLocation: sourceLocation)
        #expect(blocks[0].globalNonzeroCount == whole.nonzeroCount, sourceLocation: sourceLocation)
    }
}

/// Reads a vector whole and with 1 ... 4 ranks; checks the slices.
func checkDistributedVector(_ path: String, ranks: [Int] = [1, 2, 3, 4], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let whole = try MatrixMarket.readVector(from: path)
    for k in ranks {
        let slices = try runRanks(k) { comm throws(MatrixMarketError) in try MatrixMarket.readVectorSlice(from: path, communicator: comm) }.map { try $0.get() }
        var joined: [Double] = []
        for (r, s) in slices.enumerated() {
            #expect(s.offset == joined.count && s.globalCount == whole.count, "\(path) rank \(r) of \(k)", sourceLocation: sourceLocation)
            joined += s.values
        }
        #expect(joined.map(\.bitPattern) == whole.map(\.bitPattern), "\(path) with \(k) ranks", sourceLocation: sourceLocation)
    }
}

/// The error the whole-file reader throws, and what each of `k` ranks throws.
func distributedErrors(_ path: String, ranks k: Int, vector: Bool = false) -> (whole: MatrixMarketError?, ranks: [MatrixMarketError?]) {
    let whole = caught { vector ? try MatrixMarket.readVector(from: path).count : try MatrixMarket.readMatrix(from: path).matrix.nonzeroCount }
    let results = runRanks(k) { comm throws(MatrixMarketError) -> Int in
        vector ? try MatrixMarket.readVectorSlice(from: path, communicator: comm).values.count
               : try MatrixMarket.readMatrixBlock(from: path, communicator: comm).matrix.nonzeroCount
    }
    return (whole, results.map { if case .failure(let e) = $0 { return e } else { return nil } })
}

/// A random coordinate file: `entries` lines, rows and columns drawn (so duplicates and
/// unsorted order occur), values with varied exponents, some -0.0 and explicit zeros.
func randomCoordinateText(rows: Int, columns: Int, entries: Int, field: String = "real", symmetry: String = "general",
                          seed: UInt64, comments: Bool = true) -> String {
    var random = SeededGenerator(seed: seed)
    var text = "%%MatrixMarket matrix coordinate \(field) \(symmetry)\n% generated for the distributed reading tests\n"
    text += "\(rows) \(columns) \(entries)\n"
    for k in 0 ..< entries {
        var i = Int.random(in: 1 ... rows, using: &random), j = Int.random(in: 1 ... columns, using: &random)
        if symmetry == "skew-symmetric" && i == j { j = j == 1 ? 2 : 1; if i == j { i = 2 } }
        if symmetry != "general" && Bool.random(using: &random) && j > i && j <= rows { swap(&i, &j) }
        var line = "\(i) \(j)"
        switch field {
        case "pattern": break
        case "integer": line += " \(Int.random(in: -50 ... 50, using: &random))"
        default:
            let choice = Int.random(in: 0 ..< 20, using: &random)
            let v: Double = choice == 0 ? -0.0 : choice == 1 ? 0 : Double.random(in: -1 ... 1, using: &random) * pow(10, Double(Int.random(in: -20 ... 20, using: &random)))
            line += " \(v)"
        }
        if comments && k % 97 == 13 { text += "% a comment line inside the data\n\n" }
        text += line + (k % 5 == 0 ? "  \r\n" : "\n")
    }
    return text
}

/// A small deterministic generator (xorshift*), so the files do not depend on the platform.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

@Suite("Distributed reading (ThreadGroup ranks)", .serialized)
struct DistributedReadingTests {
    @Test(arguments: [("real", "general"), ("integer", "general"), ("pattern", "general"), ("real", "symmetric"),
                      ("real", "skew-symmetric"), ("pattern", "symmetric")])
    func blocksEqualTheWholeFile(field: String, symmetry: String) throws {
        let scratch = try Scratch()
        let square = symmetry != "general"
        let path = try scratch.write("a.mtx", randomCoordinateText(rows: 300, columns: square ? 300 : 40, entries: 5000, field: field,
                                                                   symmetry: symmetry, seed: 7))
        try checkDistributedMatrix(path)
    }

    @Test func rowSortedFileAndNoFinalNewline() throws {
        let scratch = try Scratch()
        var text = "%%MatrixMarket matrix coordinate real general\n500 30 3000\n"
        for i in 1 ... 500 { for j in [3, 9, 11, 17, 22, 29] { text += "\(i) \(j) \(Double(i * j) / 7)\n" } }
        let path = try scratch.write("sorted.mtx", text)
        try checkDistributedMatrix(path)
        let open = try scratch.write("open.mtx", String(text.dropLast()))
        try checkDistributedMatrix(open)
    }

    /// Several megabytes: more than one 1 MiB chunk per rank, parsed by the rank's threads.
    @Test func severalChunksPerRank() throws {
        let scratch = try Scratch()
        let path = try scratch.write("big.mtx", randomCoordinateText(rows: 20000, columns: 200, entries: 160_000, seed: 11, comments: false))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int > 3 << 20)
        try checkDistributedMatrix(path, ranks: [2, 3])
    }

    @Test func moreRanksThanRows() throws {
        let scratch = try Scratch()
        let path = try scratch.write("tiny.mtx", "%%MatrixMarket matrix coordinate real general\n3 2 4\n3 1 5\n1 2 -1\n3 1 0.5\n2 2 2\n")
        try checkDistributedMatrix(path, ranks: [4, 6])
        let empty = try scratch.write("empty.mtx", "%%MatrixMarket matrix coordinate real general\n0 2 0\n")
        try checkDistributedMatrix(empty, ranks: [1, 3])
        let vector = try scratch.write("v.mtx", "%%MatrixMarket matrix array real general\n2 1\n1.5\n-0\n")
        try checkDistributedVector(vector, ranks: [3, 5])
    }

    @Test func gzipIsReadByRankZeroAndScattered() throws {
        let scratch = try Scratch()
        let text = randomCoordinateText(rows: 200, columns: 30, entries: 3000, symmetry: "general", seed: 5)
        let path = try scratch.write("a.mtx.gz", try gzipped(Array(text.utf8)))
        try checkDistributedMatrix(path)
        var vector = "%%MatrixMarket matrix array real general\n200 1\n"
        for i in 0 ..< 200 { vector += "\(Double(i) / 3 - 20)\n" }
        try checkDistributedVector(try scratch.write("b.mtx.gz", try gzipped(Array(vector.utf8))))
        // A damaged stream: every rank throws rank 0's error.
        let bad = try scratch.write("bad.mtx.gz", Array(try gzipped(Array(text.utf8)).dropLast(40)))
        let (whole, errors) = distributedErrors(bad, ranks: 3)
        #expect(whole != nil)
        #expect(errors.allSatisfy { $0 == whole })
    }

    @Test func arrayMatrixIsReadByRankZeroAndScattered() throws {
        let scratch = try Scratch()
        var text = "%%MatrixMarket matrix array real symmetric\n5 5\n"
        for k in 0 ..< 15 { text += "\(k % 4 == 0 ? 0 : Double(k) - 7.5)\n" }
        try checkDistributedMatrix(try scratch.write("s.mtx", text))
    }

    @Test func vectorsEqualTheWholeFile() throws {
        let scratch = try Scratch()
        var array = "%%MatrixMarket matrix array real general\n% b\n1000 1\n"
        for i in 0 ..< 1000 { array += i % 7 == 0 ? "-0\n" : "\(sin(Double(i)) * 1e3)\n" }
        try checkDistributedVector(try scratch.write("b.mtx", array))
        try checkDistributedVector(try scratch.write("row.mtx", array.replacingOccurrences(of: "1000 1\n", with: "1 1000\n")))
        // Coordinate: duplicates summed in file order, the first kept as is (-0.0), missing ones 0.
        var random = SeededGenerator(seed: 3)
        var coordinate = "%%MatrixMarket matrix coordinate real general\n700 1 900\n"
        for k in 0 ..< 900 {
            let i = Int.random(in: 1 ... 700, using: &random)
            coordinate += k % 11 == 0 ? "\(i) 1 -0\n" : "\(i) 1 \(Double.random(in: -1 ... 1, using: &random))\n"
        }
        try checkDistributedVector(try scratch.write("c.mtx", coordinate))
        try checkDistributedVector(try scratch.write("c-row.mtx", coordinate.replacingOccurrences(of: "700 1 900", with: "1 700 900")
            .split(separator: "\n").enumerated().map { k, line in
                guard k >= 2 else { return String(line) }
                let w = line.split(separator: " ")
                return "1 \(w[0]) \(w[2])"
            }.joined(separator: "\n") + "\n"))
    }

    /// A bad line read by rank 2 (at about 70% of the data section: rank 2 of 3 reads the
    /// last third, of 4 the third quarter): every rank throws the whole reader's error.
    @Test(arguments: [3, 4])
    func badLineInRankTwosRangeStopsEveryRank(ranks: Int) throws {
        let scratch = try Scratch()
        var lines = ["%%MatrixMarket matrix coordinate real general", "400 20 4000"]
        for k in 0 ..< 4000 { lines.append("\(k % 400 + 1) \(k % 20 + 1) \(Double(k) / 8)") }
        let bad = 2 + 2800  // 0-based index of the line made bad (entry 2800 of 4000: 70%)
        lines[bad] = "\(lines[bad]) extra"
        let path = try scratch.write("bad.mtx", lines.joined(separator: "\n") + "\n")
        let (whole, errors) = distributedErrors(path, ranks: ranks)
        let expected = try #require(whole)
        #expect(expected.line == bad + 1)
        #expect(expected.description.hasPrefix("\(path):\(bad + 1): unexpected text 'extra'"))
        for (r, e) in errors.enumerated() { #expect(e == expected, "rank \(r): \(String(describing: e))") }
        // The line really is in rank 2's range: its byte offset in the data section.
        let dataStart = lines[0 ..< 2].reduce(0) { $0 + $1.utf8.count + 1 }
        let lineStart = lines[0 ..< bad].reduce(0) { $0 + $1.utf8.count + 1 } - dataStart
        let dataBytes = lines.reduce(0) { $0 + $1.utf8.count + 1 } - dataStart
        let share = (dataBytes + ranks - 1) / ranks
        #expect(lineStart / share == 2)
    }

    @Test(arguments: [2, 3, 4])
    func countErrorsNameTheWholeReadersLine(ranks: Int) throws {
        let scratch = try Scratch()
        var body = ""
        for k in 0 ..< 600 { body += "\(k % 50 + 1) \(k % 7 + 1) 1.5\n" }
        let tooMany = try scratch.write("many.mtx", "%%MatrixMarket matrix coordinate real general\n50 7 450\n" + body)
        let truncated = try scratch.write("few.mtx", "%%MatrixMarket matrix coordinate real general\n50 7 650\n" + body + "% end\n\n")
        for path in [tooMany, truncated] {
            let (whole, errors) = distributedErrors(path, ranks: ranks)
            #expect(whole != nil)
            for e in errors { #expect(e == whole, "\(path): \(String(describing: e)) against \(String(describing: whole))") }
        }
    }

    /// Every file of the malformed corpus and every broken text: the same error as the
    /// whole-file reader, on every rank (as a matrix and as a vector). Only the memory check
    /// may differ: it compares each rank's share of the declared storage.
    @Test(arguments: [2, 3, 4])
    func malformedInputsGiveTheWholeReadersError(ranks: Int) throws {
        let scratch = try Scratch()
        var paths = try FileManager.default.contentsOfDirectory(atPath: TestPaths.packageRoot.appendingPathComponent("Tests/Malformed").path)
            .filter { $0.hasSuffix(".mtx") || $0.hasSuffix(".gz") }.sorted()
            .map { TestPaths.packageRoot.appendingPathComponent("Tests/Malformed/\($0)").path }
        for (k, broken) in brokenFiles.enumerated() { paths.append(try scratch.write("broken-\(k).mtx", broken.text)) }
        #expect(paths.count > 100)
        for path in paths {
            for vector in [false, true] {
                let (whole, errors) = distributedErrors(path, ranks: ranks, vector: vector)
                for (r, e) in errors.enumerated() {
                    #expect(e == errors[0], "\(path): rank \(r) differs")
                    if e != whole {
                        #expect(e?.message.contains("per rank over \(ranks) ranks") == true && e?.line == whole?.line,
                                "\(path) (\(vector ? "vector" : "matrix")): \(String(describing: e)) against the whole reader's \(String(describing: whole))")
                    }
                }
            }
        }
    }

    @Test func realFiles() throws {
        guard TestPaths.runsSharedDataTests else {
            print("skipped: ../shared/data/mtx is absent (distributed reading of the real files)")
            return
        }
        let directory = TestPaths.sharedMatrixDirectory.path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".mtx") || $0.hasSuffix(".mtx.gz") }.sorted()
        #expect(!names.isEmpty)
        for name in names {
            let path = directory + "/" + name
            guard (try? MatrixMarket.readMatrix(from: path)) != nil else { continue }  // e.g. complex files
            try checkDistributedMatrix(path, ranks: [2, 4])
        }
    }
}

@Suite("Pre-split input", .serialized)
struct PartitionReadingTests {
    /// Writes the part files and manifests of A and b into `scratch`.
    func split(_ scratch: Scratch, a: CSRMatrix, b: [Double], parts: Int) throws -> (String, String) {
        let (manifest, files) = MatrixMarketPartition.matrixFiles(a, stem: "A", source: "A.mtx", parts: parts)
        for (r, chunks) in files.enumerated() { try scratch.write(MatrixMarketPartition.partFileName(stem: "A", part: r, parts: parts), chunks.flatMap { $0 }) }
        let (vectorManifest, vectorFiles) = MatrixMarketPartition.vectorFiles(b, stem: "b", source: "b.mtx", parts: parts)
        for (r, chunks) in vectorFiles.enumerated() { try scratch.write(MatrixMarketPartition.partFileName(stem: "b", part: r, parts: parts), chunks.flatMap { $0 }) }
        return (try scratch.write("A.parts", manifest), try scratch.write("b.parts", vectorManifest))
    }

    @Test(arguments: [(1, "general"), (2, "symmetric"), (3, "general"), (4, "skew-symmetric")])
    func partsReadBackAsTheWholeFile(parts: Int, symmetry: String) throws {
        let scratch = try Scratch()
        let source = try scratch.write("A.mtx", randomCoordinateText(rows: 250, columns: symmetry == "general" ? 30 : 250, entries: 3000,
                                                                    symmetry: symmetry, seed: 9))
        let a = try MatrixMarket.readMatrix(from: source).matrix
        let b: [Double] = (0 ..< 250).map { (i: Int) -> Double in i % 9 == 0 ? -0.0 : 1 / Double(i + 1) }
        let (manifestA, manifestB) = try split(scratch, a: a, b: b, parts: parts)
        // Each part is a valid Matrix Market file on its own.
        #expect(try MatrixMarket.readMatrix(from: scratch.path("A.part-0-of-\(parts).mtx")).matrix.columnCount == a.columnCount)
        let results = try runRanks(parts) { comm throws(MatrixMarketError) in
            try DistributedInput.read(matrix: manifestA, target: manifestB, weights: nil, communicator: comm)
        }.map { try $0.get() }
        let blocks = results.map { MatrixBlock(matrix: $0.matrix, rowOffset: $0.rowOffset, globalRowCount: $0.globalRowCount, globalNonzeroCount: $0.globalNonzeroCount) }
        expectSameBits(stack(blocks), a, "parts of \(parts)")
        let targets: [Double] = results.flatMap { $0.target }
        #expect(targets.map { $0.bitPattern } == b.map { $0.bitPattern })
        #expect(results.allSatisfy { $0.weights == nil && $0.globalNonzeroCount == a.nonzeroCount })
    }

    @Test func wrongRankCountAndForeignPartsAreRefused() throws {
        let scratch = try Scratch()
        let a = try MatrixMarket.readMatrix(from: try scratch.write("A.mtx", randomCoordinateText(rows: 40, columns: 5, entries: 100, seed: 2))).matrix
        let (manifestA, manifestB) = try split(scratch, a: a, b: [Double](repeating: 1, count: 40), parts: 3)
        let results = runRanks(2) { comm throws(MatrixMarketError) in try MatrixMarketPartition.readMatrixBlock(manifest: manifestA, communicator: comm) }
        for result in results {
            guard case .failure(let e) = result else { Issue.record("read with 2 ranks"); continue }
            #expect(e.description == "\(manifestA):7: the input is split into 3 parts but this run has 2 ranks: run with 3 ranks, or split it again with hyperreg partition --parts 2")
        }
        // The manifest alone: what a memory plan needs, without the run's rank count.
        let summary = try MatrixMarketPartition.summary(manifest: manifestA)
        #expect(summary.kind == "matrix" && summary.rows == 40 && summary.columns == 5 && summary.nonzeros == a.nonzeroCount)
        #expect(summary.partPaths == (0 ..< 3).map { scratch.path("A.part-\($0)-of-3.mtx") })
        #expect(try MatrixMarketPartition.summary(manifest: manifestB).kind == "vector")
        let damaged = try scratch.write("damaged.parts", String(decoding: try Data(contentsOf: URL(fileURLWithPath: manifestA)), as: UTF8.self)
            .replacingOccurrences(of: "part 1 14 13", with: "part 1 14 12"))
        let error = caught { try MatrixMarketPartition.summary(manifest: damaged) }
        #expect(error?.line == 9 && error?.message.contains("part 1 holds rows 15-26, but a run of 3 ranks gives rank 1 rows 15-27") == true, "\(String(describing: error))")
        // A matrix manifest where a vector is expected.
        let wrongKind = runRanks(3) { comm throws(MatrixMarketError) in try MatrixMarketPartition.readVectorSlice(manifest: manifestA, communicator: comm) }
        #expect(wrongKind.allSatisfy { if case .failure(let e) = $0 { return e.line == 1 && e.message.contains("split matrix") } else { return false } })
        // Part 1 replaced by part 1 of a 4-way split: every rank throws part 1's problem.
        let (_, four) = MatrixMarketPartition.matrixFiles(a, stem: "A", source: "A.mtx", parts: 4)
        try scratch.write("A.part-1-of-3.mtx", four[1].flatMap { $0 })
        let foreign = runRanks(3) { comm throws(MatrixMarketError) in try MatrixMarketPartition.readMatrixBlock(manifest: manifestA, communicator: comm) }
        for result in foreign {
            guard case .failure(let e) = result else { Issue.record("foreign part accepted"); continue }
            #expect(e.path == scratch.path("A.part-1-of-3.mtx"))
        }
        _ = manifestB
    }

    /// With one process, DistributedInput returns what the whole-file readers return.
    @Test func singleProcessIsTheWholeFileReading() throws {
        let scratch = try Scratch()
        let path = try scratch.write("A.mtx", randomCoordinateText(rows: 60, columns: 8, entries: 400, symmetry: "general", seed: 4))
        var b = "%%MatrixMarket matrix array real general\n60 1\n", w = b
        for i in 0 ..< 60 { b += "\(Double(i) * 0.1)\n"; w += "\(i % 3)\n" }
        let bPath = try scratch.write("b.mtx", b), wPath = try scratch.write("w.mtx", w)
        let input = try DistributedInput.read(matrix: path, target: bPath, weights: wPath, communicator: SingleProcess.shared)
        expectSameBits(input.matrix, try MatrixMarket.readMatrix(from: path).matrix, "single process")
        let wholeB = try MatrixMarket.readVector(from: bPath), wholeW = try MatrixMarket.readVector(from: wPath)
        #expect(input.target == wholeB && input.weights == wholeW)
        #expect(input.rowOffset == 0 && input.globalRowCount == 60)
        // Distributed, the same pieces; a negative weight on rank 1's rows is reported by all.
        let results = try runRanks(3) { comm throws(MatrixMarketError) in
            try DistributedInput.read(matrix: path, target: bPath, weights: wPath, communicator: comm)
        }.map { try $0.get() }
        #expect(results.flatMap(\.target) == input.target && results.flatMap { $0.weights! } == input.weights!)
        var lines = w.split(separator: "\n").map(String.init)
        lines[2 + 31] = "-1"
        let negative = try scratch.write("neg.mtx", lines.joined(separator: "\n") + "\n")
        let failures = runRanks(3) { comm throws(MatrixMarketError) in try DistributedInput.read(matrix: path, target: bPath, weights: negative, communicator: comm) }
        let first = lines.dropFirst(2).firstIndex { $0.hasPrefix("-") }! - 2
        for result in failures {
            guard case .failure(let e) = result else { Issue.record("negative weight accepted"); continue }
            #expect(e.description == "\(negative): entry \(first + 1) (row \(first + 1) of w) is \(Double(lines[first + 2])!); weights must be >= 0")
        }
        // b of the wrong length.
        let short = try scratch.write("short.mtx", "%%MatrixMarket matrix array real general\n59 1\n" + String(repeating: "1\n", count: 59))
        let mismatch = runRanks(2) { comm throws(MatrixMarketError) in try DistributedInput.read(matrix: path, target: short, weights: nil, communicator: comm) }
        #expect(mismatch.allSatisfy { if case .failure(let e) = $0 { return e.description == "\(short): b has 59 entries but \(path) has 60 rows" } else { return false } })
    }
}
