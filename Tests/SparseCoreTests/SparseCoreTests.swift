import Foundation
import HyperRegTestSupport
import Testing
@testable import SparseCore

@Suite("CSR matrix and builder")
struct CSRTests {
    @Test func builderSumsDuplicatesAndSortsColumns() {
        var b = CoordinateBuilder(rowCount: 2, columnCount: 3)
        b.append(row: 1, column: 2, value: 1)
        b.append(row: 0, column: 1, value: 2)
        b.append(row: 1, column: 0, value: 3)
        b.append(row: 1, column: 2, value: 4)   // duplicate of (1, 2)
        b.append(row: 0, column: 0, value: 0)   // explicit zero kept
        let m = b.build()
        #expect(m.rowOffsets == [0, 2, 4])
        #expect(m.columnIndices == [0, 1, 0, 2])
        #expect(m.values == [0, 2, 3, 5])
        #expect(m.value(row: 1, column: 2) == 5)
        #expect(m.value(row: 1, column: 1) == 0)
    }

    @Test func checkedInitRejectsBrokenInvariants() {
        #expect(throws: SparseStructureError.self) {
            try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 2], columnIndices: [1, 0], values: [1, 1])
        }
        #expect(throws: SparseStructureError.self) {
            try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 1], columnIndices: [2], values: [1])
        }
        #expect(throws: SparseStructureError.self) {
            try CSRMatrix(rowCount: 2, columnCount: 2, rowOffsets: [0, 1], columnIndices: [0], values: [1])
        }
    }

    @Test func structureErrorsNameTheOffendingValues() {
        func kind(_ build: () throws -> CSRMatrix) -> SparseStructureError.Kind? {
            do { _ = try build(); return nil } catch { return (error as? SparseStructureError)?.kind }
        }
        #expect(kind { try CSRMatrix(rowCount: -1, columnCount: 2, rowOffsets: [0], columnIndices: [], values: []) } == .negativeDimension(rows: -1, columns: 2))
        #expect(kind { try CSRMatrix(rowCount: 2, columnCount: 2, rowOffsets: [0, 1], columnIndices: [0], values: [1]) } == .rowOffsetsLength(got: 2, expected: 3))
        #expect(kind { try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [1, 1], columnIndices: [0], values: [1]) } == .firstOffset(1))
        #expect(kind { try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 1], columnIndices: [0], values: []) } == .arrayLengths(columnIndices: 1, values: 0))
        #expect(kind { try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 2], columnIndices: [0], values: [1]) } == .lastOffset(got: 2, entries: 1))
        #expect(kind { try CSRMatrix(rowCount: 2, columnCount: 2, rowOffsets: [0, 2, 1], columnIndices: [0], values: [1]) } == .offsetBeyondEntries(row: 0, offset: 2, entries: 1))
        #expect(kind { try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 1], columnIndices: [2], values: [1]) } == .columnOutOfRange(row: 0, column: 2, columns: 2))
        #expect(kind { try CSRMatrix(rowCount: 1, columnCount: 2, rowOffsets: [0, 2], columnIndices: [1, 0], values: [1, 1]) } == .unsortedColumns(row: 0, entry: 1))
        #expect(kind { try CSRMatrix(rowCount: 3, columnCount: 2, rowOffsets: [0, 2, 1, 2], columnIndices: [0, 1], values: [1, 1]) } == .decreasingOffsets(row: 1))
        #expect(SparseStructureError("x").kind == .other)
    }

    @Test func transposeMatchesDense() {
        let a = randomCSR(rows: 13, columns: 7, density: 0.3, seed: 3)
        let t = a.transposed()
        for i in 0..<13 { for j in 0..<7 { #expect(a.value(row: i, column: j) == t.value(row: j, column: i)) } }
    }
}

@Suite("Streaming kernels")
struct KernelTests {
    // Tolerance: sums of at most d (or n) products of O(1) numbers in a different order than the
    // dense reference; 1e-12 relative is ~1e4 ulps of slack, far above reordering error and far
    // below any indexing mistake (which gives O(1) differences).
    let tol = 1e-12

    @Test func multiplyAndTransposeMatchDense() {
        let n = 300, d = 40
        let a = randomCSR(rows: n, columns: d, density: 0.1, seed: 11)
        let dense = a.denseRowMajor()
        var rng = FixtureRandom(seed: 5)
        let x = (0..<d).map { _ in rng.uniform(-1, 1) }
        let y = (0..<n).map { _ in rng.uniform(-1, 1) }
        #expect(relativeMaxDifference(a.multiply(x), Dense.multiply(dense, rows: n, columns: d, x)) < tol)
        #expect(relativeMaxDifference(a.transposeMultiply(y), Dense.transposeMultiply(dense, rows: n, columns: d, y)) < tol)
        let y2 = y.map { $0 * $0 }
        let both = a.transposeMultiply([y, y2])
        #expect(relativeMaxDifference(both[1], Dense.transposeMultiply(dense, rows: n, columns: d, y2)) < tol)
    }

    /// Several right-hand sides go through 4-wide SIMD groups plus a scalar remainder: every
    /// count from 1 to 6 must give each A^T y_m as the dense reference does, with rows where
    /// some y_m are zero (skipped only when all lanes are), and the same bits on 1 and 2 threads.
    @Test(arguments: 1...6)
    func severalRightHandSides(count: Int) {
        // 12 000 rows: at least two chunks, so that 2 threads really split the pass (with
        // the 3000 rows used before, one chunk: the "2 threads" run used one).
        let n = 12_000, d = 50
        let a = randomCSR(rows: n, columns: d, density: 0.1, seed: 21)
        let dense = a.denseRowMajor()
        var rng = FixtureRandom(seed: UInt64(30 + count))
        let ys = (0..<count).map { m in (0..<n).map { i in (i + m) % 3 == 0 ? 0 : rng.uniform(-1, 1) } }
        // Task-local thread counts (never the process-wide setting, which concurrent tests share).
        let (one, usedOne) = Parallelism.withThreadCount(1) { a.transposeMultiply(ys) }
        let (two, usedTwo) = Parallelism.withThreadCount(2) { a.transposeMultiply(ys) }
        #expect(usedOne.mostThreads == 1 && usedTwo.mostThreads == 2, "threads used: \(usedOne.mostThreads), \(usedTwo.mostThreads)")
        #expect(one.count == count)
        #expect(one == two)
        for m in 0..<count {
            #expect(relativeMaxDifference(one[m], Dense.transposeMultiply(dense, rows: n, columns: d, ys[m])) < tol)
        }
    }

    @Test func resultsDoNotDependOnThreadCount() {
        // Large enough for many chunks (about 2e5 nonzeros).
        let a = randomCSR(rows: 20000, columns: 100, density: 0.1, seed: 7)
        #expect(a.partition.count > 4)
        var rng = FixtureRandom(seed: 9)
        let x = (0..<100).map { _ in rng.uniform(-1, 1) }
        let y = (0..<20000).map { _ in rng.uniform(-1, 1) }
        let ((z1, g1), used1) = Parallelism.withThreadCount(1) { (a.multiply(x), a.transposeMultiply(y)) }
        let ((z2, g2), used2) = Parallelism.withThreadCount(2) { (a.multiply(x), a.transposeMultiply(y)) }
        let (g3, used3) = Parallelism.withThreadCount(3) { a.transposeMultiply(y) }
        #expect(used1.fewestThreads == 1 && used1.mostThreads == 1)
        #expect(used2.fewestThreads == 2 && used2.mostThreads == 2)
        #expect(used3.fewestThreads == 3 && used3.mostThreads == 3)
        #expect(z1 == z2)   // bit-identical
        #expect(g1 == g2)
        #expect(g1 == g3)
    }

    @Test func partitionCoversAllRowsInOrder() {
        let a = randomCSR(rows: 5000, columns: 50, density: 0.3, seed: 1)
        let p = RowPartition(matrix: a, maxChunks: 16, minimumWork: 1000)
        #expect(p.boundaries.first == 0)
        #expect(p.boundaries.last == 5000)
        #expect(zip(p.boundaries, p.boundaries.dropFirst()).allSatisfy { $0 < $1 })
        #expect(p.count == 16)
    }
}

@Suite("A^T diag(s) A assembly")
struct NormalMatrixTests {
    @Test(arguments: [(0.05, UInt64(1)), (0.3, UInt64(2)), (1.0, UInt64(3))])
    func assemblyMatchesDenseWithSignedWeights(density: Double, seed: UInt64) throws {
        let n = 200, d = 30
        let a = randomCSR(rows: n, columns: d, density: density, seed: seed)
        let pattern = try NormalMatrixPattern(matrix: a)
        var rng = FixtureRandom(seed: seed + 100)
        let s = (0..<n).map { _ in rng.uniform(-1, 2) }  // negative weights included
        let k = pattern.denseSymmetric(pattern.assemble(a, weights: s))
        let reference = Dense.weightedGram(a.denseRowMajor(), rows: n, columns: d, weights: s)
        // Same products summed in another order: 1e-12 relative to the largest entry.
        #expect(relativeMaxDifference(k, reference) < 1e-12)
        // Full rows give a full pattern; 1.5 entries per row on average leave most pairs absent.
        if density == 1.0 { #expect(pattern.isDense) }
        if density < 0.1 { #expect(!pattern.isDense && pattern.entryCount < d * (d + 1) / 2) }
        // Every diagonal entry is in the pattern and is the last of its column.
        for (j, pos) in pattern.diagonalPositions.enumerated() { #expect(pattern.rowIndices[pos] == Int32(j)) }
    }

    @Test func subsetAssemblyUsesOnlyListedRows() throws {
        let n = 120, d = 15
        let a = randomCSR(rows: n, columns: d, density: 0.2, seed: 4)
        let pattern = try NormalMatrixPattern(matrix: a)
        let s = [Double](repeating: 1.5, count: n)
        let rows = Array(stride(from: 0, to: n, by: 3))
        var masked = [Double](repeating: 0, count: n)
        for i in rows { masked[i] = 1.5 }
        let k = pattern.denseSymmetric(pattern.assemble(a, weights: s, rows: rows))
        let reference = Dense.weightedGram(a.denseRowMajor(), rows: n, columns: d, weights: masked)
        #expect(relativeMaxDifference(k, reference) < 1e-12)
    }

    /// The pattern probes the first 4 096, then 65 536 rows for a dense triangle. Rows past a
    /// probe that add pairs must still be found (probe not dense), and rows past it never
    /// turn a dense probe into anything else; checked against the pairs listed by brute
    /// force. `fullRow` is the one prefix row that fills the triangle (-1: none): inside the
    /// small probe (7), or past it but inside the large one (10 000).
    @Test(arguments: [(-1, false), (-1, true), (7, false), (10_000, false), (10_000, true)])
    func patternBeyondTheProbeRows(fullRow: Int, laterRowsFillTheTriangle: Bool) throws {
        let n = 70_000, d = 6
        var offsets = [0], columns = [Int32](), values = [Double]()
        for i in 0..<n {
            // Prefix rows: columns 0...4 in pairs (or one full row); later rows: column 5
            // with column 0, or with every column when they fill the triangle.
            let full: [Int32] = [0, 1, 2, 3, 4, 5]
            let row: [Int32] = i < 65_536 ? (i == fullRow ? full : [Int32(i % 5), Int32((i + 1) % 5)].sorted())
                : (laterRowsFillTheTriangle ? full : [0, 5])
            columns += row
            values += row.map { _ in 1.0 }
            offsets.append(columns.count)
        }
        let a = try CSRMatrix(rowCount: n, columnCount: d, rowOffsets: offsets, columnIndices: columns, values: values)
        let pattern = try NormalMatrixPattern(matrix: a)
        var present = Set<Int>()
        for k in 0..<d { present.insert(k * d + k) }
        for i in 0..<n {
            let r = offsets[i]..<offsets[i + 1]
            for p in r { for q in r where columns[p] <= columns[q] { present.insert(Int(columns[p]) * d + Int(columns[q])) } }
        }
        var listed = Set<Int>()
        for k in 0..<d {
            for t in Int(pattern.columnOffsets[k])..<Int(pattern.columnOffsets[k + 1]) { listed.insert(Int(pattern.rowIndices[t]) * d + k) }
        }
        #expect(listed == present)
        #expect(pattern.isDense == (fullRow >= 0 || laterRowsFillTheTriangle))
        #expect(pattern.entryCount == present.count)
    }

    @Test func assemblyIsThreadCountIndependent() throws {
        let a = randomCSR(rows: 40000, columns: 60, density: 0.08, seed: 8)
        let pattern = try NormalMatrixPattern(matrix: a)
        let s = (0..<40000).map { Double($0 % 7) - 2.5 }
        let (k1, used1) = Parallelism.withThreadCount(1) { pattern.assemble(a, weights: s) }
        let (k2, used2) = Parallelism.withThreadCount(2) { pattern.assemble(a, weights: s) }
        #expect(used1.passes > 0 && used1.mostThreads == 1)
        #expect(used2.passes > 0 && used2.mostThreads == 2)
        #expect(k1 == k2)
    }
}

/// Every test target runs in one process, suites concurrently: a test that set the
/// process-wide `Parallelism.threadCount` changed it under every other test, and a "1 vs 2
/// threads" comparison could compare 2 with 2. Tests use the task-local
/// `Parallelism.withThreadCount` (which also reports the threads really used) instead.
@Test func noTestSetsTheProcessWideThreadCount() throws {
    let root = TestPaths.packageRoot.appendingPathComponent("Tests")
    let enumerator = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
    let needle = "Parallelism.threadCount"   // followed by an assignment
    var offenders: [String] = []
    for case let url as URL in enumerator where url.pathExtension == "swift" {
        let text = try String(contentsOf: url, encoding: .utf8)
        for line in text.split(separator: "\n") {
            guard let range = line.range(of: needle) else { continue }
            let rest = line[range.upperBound...].drop { $0 == " " }
            if rest.hasPrefix("=") && !rest.hasPrefix("==") { offenders.append("\(url.lastPathComponent): \(line.trimmingCharacters(in: .whitespaces))") }
        }
    }
    #expect(offenders.isEmpty, "tests that set the process-wide thread count: \(offenders)")
}
