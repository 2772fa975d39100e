// `hyperreg partition` (issue 17): the part files and manifests it writes, read back by K
// ranks (ThreadGroup) through `DistributedInput`, give the whole files' bits; bad input and
// refused outputs leave nothing written.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import SparseCore
import Testing

@Suite("hyperreg partition", .serialized)
struct PartitionCLITests {
    /// Splits a generated problem with the command, reads the manifests with K ranks.
    @Test(arguments: [1, 2, 3, 4])
    func roundTripThroughTheCommand(parts: Int) throws {
        let dir = try TestPaths.makeTemporaryDirectory("partition-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        try generateProblem(dir, rows: 500, cols: 12)
        let a = dir.appendingPathComponent("A.mtx").path, b = dir.appendingPathComponent("b.mtx").path
        let w = dir.appendingPathComponent("w.mtx").path, out = dir.appendingPathComponent("parts").path
        let run = try hyperreg(["partition", a, b, w, "--parts", "\(parts)", "--output-dir", out])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("wrote \(out)/A.parts (500 x 12, "))
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(names.count == 3 * (parts + 1))
        let wholeA = try MatrixMarket.readMatrix(from: a).matrix
        let wholeB = try MatrixMarket.readVector(from: b), wholeW = try MatrixMarket.readVector(from: w)
        let results = ThreadGroup.run(ranks: parts) { comm -> Result<DistributedInput, MatrixMarketError> in
            do throws(MatrixMarketError) {
                return .success(try DistributedInput.read(matrix: out + "/A.parts", target: out + "/b.parts", weights: out + "/w.parts", communicator: comm))
            } catch { return .failure(error) }
        }
        let inputs = try results.map { try $0.get() }
        var offsets = [0], columns: [Int32] = [], values: [Double] = []
        for (r, input) in inputs.enumerated() {
            #expect(input.rowOffset == RowDistribution.block(rows: 500, ranks: parts, rank: r).lowerBound)
            #expect(input.globalRowCount == 500 && input.globalNonzeroCount == wholeA.nonzeroCount)
            for i in 0 ..< input.matrix.rowCount { offsets.append(columns.count + input.matrix.rowOffsets[i + 1]) }
            columns += input.matrix.columnIndices
            values += input.matrix.values
        }
        #expect(offsets == wholeA.rowOffsets && columns == wholeA.columnIndices)
        #expect(values.map { $0.bitPattern } == wholeA.values.map { $0.bitPattern })
        #expect(inputs.flatMap { $0.target }.map { $0.bitPattern } == wholeB.map { $0.bitPattern })
        #expect(inputs.flatMap { $0.weights ?? [] }.map { $0.bitPattern } == wholeW.map { $0.bitPattern })
    }

    @Test func morePartsThanRowsGivesEmptyParts() throws {
        let dir = try TestPaths.makeTemporaryDirectory("partition-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("A.mtx").path
        try Data("%%MatrixMarket matrix coordinate real general\n2 3 3\n2 1 4\n1 3 -1\n2 1 0.5\n".utf8).write(to: URL(fileURLWithPath: a))
        let out = dir.appendingPathComponent("p").path
        let run = try hyperreg(["partition", a, "--parts", "4", "--output-dir", out])
        #expect(run.status == 0, "\(run.stderr)")
        let empty = try MatrixMarket.readMatrix(from: out + "/A.part-3-of-4.mtx").matrix
        #expect(empty.rowCount == 0 && empty.columnCount == 3)
        let blocks = ThreadGroup.run(ranks: 4) { comm in try? MatrixMarketPartition.readMatrixBlock(manifest: out + "/A.parts", communicator: comm) }
        #expect(blocks.map { $0?.matrix.rowCount } == [1, 1, 0, 0])
        #expect(blocks[1]?.matrix.values == [4.5])  // duplicates summed in file order
    }

    @Test func badInputAndRefusedOutputsWriteNothing() throws {
        let dir = try TestPaths.makeTemporaryDirectory("partition-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("A.mtx").path, b = dir.appendingPathComponent("b.mtx").path
        try Data("%%MatrixMarket matrix coordinate real general\n3 2 2\n1 1 1\n3 x 2\n".utf8).write(to: URL(fileURLWithPath: a))
        try Data("%%MatrixMarket matrix array real general\n2 1\n1\n2\n".utf8).write(to: URL(fileURLWithPath: b))
        let out = dir.appendingPathComponent("p").path
        let bad = try hyperreg(["partition", a, "--parts", "2", "--output-dir", out])
        #expect(bad.status == 1)
        #expect(bad.stderr == "Error: \(a):4: invalid column index 'x'\n")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] == [])
        // b shorter than A.
        try Data("%%MatrixMarket matrix coordinate real general\n3 2 1\n1 1 1\n".utf8).write(to: URL(fileURLWithPath: a))
        let short = try hyperreg(["partition", a, b, "--parts", "2", "--output-dir", out])
        #expect(short.status == 1)
        #expect(short.stderr == "Error: \(b): the vector has 2 entries but \(a) has 3 rows\n")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] == [])
        // An input among the outputs: refused before reading (exit 64), the input intact.
        let part = dir.appendingPathComponent("A.part-0-of-2.mtx").path
        try Data("%%MatrixMarket matrix array real general\n3 1\n1\n2\n3\n".utf8).write(to: URL(fileURLWithPath: part))
        let refused = try hyperreg(["partition", a, part, "--parts", "2", "--output-dir", dir.path])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("is the same file as b"))
        #expect(try String(contentsOfFile: part, encoding: .utf8) == "%%MatrixMarket matrix array real general\n3 1\n1\n2\n3\n")
        let zero = try hyperreg(["partition", a, "--parts", "0", "--output-dir", out])
        #expect(zero.status == 64)
    }
}
