// Multi-chunk files: results and error lines do not depend on the thread count.

import Foundation
import MatrixMarket
import SparseCore
import Testing

/// Runs `body` with this task's kernels on `threads` threads (`Parallelism.withThreadCount`:
/// task-local, so tests running concurrently keep their own count) and checks that no pass
/// used more.
func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
    let (result, used) = try Parallelism.withThreadCount(threads, body)
    #expect(used.mostThreads <= threads)
    return result
}

@Suite("Parallel parsing", .serialized)
struct ParallelTests {
    /// A coordinate file of several MiB (several chunks), unsorted, with duplicates.
    static func makeFile(_ s: Scratch, symmetry: String = "general", entries: Int = 250_000) throws -> (String, CSRMatrix) {
        var g = SplitMix(seed: 11)
        let n = 5000
        var builder = CoordinateBuilder(rowCount: n, columnCount: n, reservingCapacity: entries * 2)
        var text = "%%MatrixMarket matrix coordinate real \(symmetry)\n% multi-chunk test\n\(n) \(n) \(entries)\n"
        text.reserveCapacity(entries * 32)
        for k in 0 ..< entries {
            var i = Int.random(in: 0 ..< n, using: &g), j = Int.random(in: 0 ..< n, using: &g)
            if k % 10 == 0 { i = k % 7; j = k % 5 }  // many duplicates
            if symmetry == "symmetric" && i < j { swap(&i, &j) }
            let v = Double.random(in: -1 ... 1, using: &g)
            text += "\(i + 1) \(j + 1) \(v)\n"
            if k % 1000 == 0 { text += "\n% a comment line\n" }
            builder.append(row: i, column: j, value: v)
            if symmetry == "symmetric" && i != j { builder.append(row: j, column: i, value: v) }
        }
        let path = try s.write("big-\(symmetry).mtx", text)
        return (path, builder.build())
    }

    @Test(arguments: ["general", "symmetric"])
    func sameMatrixWithOneAndTwoThreads(symmetry: String) throws {
        let s = try Scratch()
        let (path, reference) = try Self.makeFile(s, symmetry: symmetry)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size > 4 << 20, "the file must span several 1 MiB chunks")
        let (one, usedOne) = try Parallelism.withThreadCount(1) { try MatrixMarket.readMatrix(from: path).matrix }
        let (two, usedTwo) = try Parallelism.withThreadCount(2) { try MatrixMarket.readMatrix(from: path).matrix }
        #expect(usedOne.passes > 0 && usedOne.mostThreads == 1)
        #expect(usedTwo.mostThreads == 2, "the 2-thread read used \(usedTwo.mostThreads)")
        #expect(one.rowOffsets == two.rowOffsets)
        #expect(one.columnIndices == two.columnIndices)
        #expect(bitsEqual(one.values, two.values))
        // CoordinateBuilder sums duplicates in append (= file) order, as the reader does.
        #expect(one.rowOffsets == reference.rowOffsets)
        #expect(one.columnIndices == reference.columnIndices)
        #expect(bitsEqual(one.values, reference.values))
    }

    /// A comment line of nearly the maximum length crosses a chunk boundary (each task finds
    /// its own boundaries): entries on both sides, and an error after it, must come out as a
    /// sequential reader sees them. One byte longer, the line is an error naming its line,
    /// with entries before and after it, and as the unterminated last line.
    @Test func longLinesAcrossChunks() throws {
        let s = try Scratch()
        let maximum = 1 << 20
        var lines = ["%%MatrixMarket matrix coordinate real general", "4 3 4", "1 1 1.0", "2 2 2.0"]
        lines.append("% " + String(repeating: "x", count: maximum - 2))  // exactly the maximum
        lines += ["3 3 3.0", "4 1 4.0"]
        let path = try s.write("long-line.mtx", lines.joined(separator: "\n") + "\n")
        for threads in [1, 2] {
            let m = try withThreads(threads) { try MatrixMarket.readMatrix(from: path).matrix }
            #expect(m.rowOffsets == [0, 1, 2, 3, 4])
            #expect(m.columnIndices == [0, 1, 2, 0])
            #expect(m.values == [1, 2, 3, 4])
        }
        var bad = lines
        bad[6] = "4 9 4.0"  // column out of range, on line 7, after the long line
        let badPath = try s.write("long-line-bad.mtx", bad.joined(separator: "\n") + "\n")
        var tooLong = lines
        tooLong[4] += "x"  // one byte over the maximum, on line 5
        let tooLongPath = try s.write("too-long.mtx", tooLong.joined(separator: "\n") + "\n")
        // 3 MiB: spans several chunks, so the chunks inside it have no line start of their own.
        var muchTooLong = lines
        muchTooLong[4] = "% " + String(repeating: "x", count: 3 << 20)
        let muchTooLongPath = try s.write("much-too-long.mtx", muchTooLong.joined(separator: "\n") + "\n")
        // The same as the unterminated last line (data on line 7), and an error before it wins.
        let lastPath = try s.write("last.mtx", (lines.prefix(4) + ["3 3 3.0", "4 1 4.0", String(repeating: "7", count: 3 << 20)]).joined(separator: "\n"))
        let earlierPath = try s.write("earlier.mtx", (lines.prefix(4) + ["3 3 x", "4 1 4.0", String(repeating: "7", count: 3 << 20)]).joined(separator: "\n"))
        for threads in [1, 2] {
            #expect(withThreads(threads) { caught { try MatrixMarket.readMatrix(from: badPath) } }?.line == 7)
            for (file, line) in [(tooLongPath, 5), (muchTooLongPath, 5), (lastPath, 7)] {
                let error = withThreads(threads) { caught { try MatrixMarket.readMatrix(from: file) } }
                #expect(error?.line == line, "\(String(describing: error))")
                #expect(error?.message.contains("line longer than the maximum of 1048576 bytes") == true, "\(String(describing: error))")
            }
            let earlier = withThreads(threads) { caught { try MatrixMarket.readMatrix(from: earlierPath) } }
            #expect(earlier?.line == 5)
            #expect(earlier?.message.contains("invalid number 'x'") == true)
        }
    }

    @Test func errorLineDeepInALaterChunk() throws {
        let s = try Scratch()
        var lines = ["%%MatrixMarket matrix array real general", "300000 1"]
        for k in 0 ..< 300_000 { lines.append(k == 250_000 ? "1.5D+02" : "\(Double(k) * 0.001)") }
        let path = try s.write("deep.mtx", lines.joined(separator: "\n"))
        for threads in [1, 2] {
            let error = withThreads(threads) { caught { try MatrixMarket.readVector(from: path) } }
            #expect(error?.line == 250_003)
            #expect(error?.message.contains("1.5D+02") == true)
        }
        // The first error in file order wins, even when a later chunk also fails.
        lines[250_002] = "0.5"
        lines[10] = "bad"
        lines[299_000] = "worse"
        let two = try s.write("two.mtx", lines.joined(separator: "\n"))
        for threads in [1, 2] {
            #expect(withThreads(threads) { caught { try MatrixMarket.readVector(from: two) } }?.line == 11)
        }
    }

    @Test func extraAndMissingEntriesAcrossChunks() throws {
        let s = try Scratch()
        let count = 200_000
        var body = ""
        for k in 0 ..< count { body += "\(k % 1000 + 1) 1 \(k)\n" }
        let extra = try s.write("extra.mtx", "%%MatrixMarket matrix coordinate real general\n1000 1 \(count - 1)\n" + body)
        let short = try s.write("short.mtx", "%%MatrixMarket matrix coordinate real general\n1000 1 \(count + 1)\n" + body + "\n")
        for threads in [1, 2] {
            let e1 = withThreads(threads) { caught { try MatrixMarket.readMatrix(from: extra) } }
            #expect(e1?.line == count + 2)
            #expect(e1?.message.contains("too many entries") == true)
            let e2 = withThreads(threads) { caught { try MatrixMarket.readMatrix(from: short) } }
            #expect(e2?.line == count + 3)
            #expect(e2?.message == "truncated: expected \(count + 1) entries, found \(count)")
        }
    }

    /// The row-sorted path writes each row's offset from the chunk where the row starts:
    /// empty rows before the first entry, runs of empty rows inside and across chunk
    /// boundaries, rows split between chunks and empty rows after the last entry must give
    /// the matrix a sequential build gives, for 1, 2 and 3 threads (a row-sorted file of
    /// about 1.3 MB, real and pattern, mapped, and gzipped and read in 4 KiB windows: one
    /// chunk each, so about 330 chunks).
    @Test(arguments: ["real", "pattern"])
    func rowSortedFileWithEmptyRowsAcrossChunks(field: String) throws {
        let s = try Scratch()
        var g = SplitMix(seed: 17)
        let n = 60_000, columns = 50
        var entries: [(row: Int, column: Int, value: Double)] = []
        var row = 7  // rows 0 ..< 7 are empty
        var filled = 0
        while row < n - 1000 {  // the last 1000 rows are empty
            // Rows of 1 to 40 entries; every 97th row is long (4000 entries, about 40 KB:
            // rows cross chunk boundaries), and gaps of up to 300 empty rows follow about one
            // row in 20.
            filled += 1
            let length = filled % 97 == 0 ? 4000 : Int.random(in: 1 ... 40, using: &g)
            for k in 0 ..< length {
                // A long row repeats its columns: sorted by row only.
                entries.append((row, k % columns, field == "real" ? Double(Int.random(in: -999 ... 999, using: &g)) / 8 : 1))
            }
            row += Int.random(in: 0 ..< 20, using: &g) == 0 ? Int.random(in: 2 ... 300, using: &g) : 1
        }
        // As given (the bucket path: repeated columns), and strictly increasing in (row,
        // column) (the concatenating path): each against a sequential build.
        var strict: [(row: Int, column: Int, value: Double)] = []
        for e in entries where strict.last.map({ ($0.row, $0.column) < (e.row, e.column) }) ?? true { strict.append(e) }
        for (name, list) in [("by-row", entries), ("strict", strict)] {
            var builder = CoordinateBuilder(rowCount: n, columnCount: columns)
            var text = "%%MatrixMarket matrix coordinate \(field) general\n\(n) \(columns) \(list.count)\n"
            text.reserveCapacity(list.count * 16)
            for e in list {
                text += field == "real" ? "\(e.row + 1) \(e.column + 1) \(e.value)\n" : "\(e.row + 1) \(e.column + 1)\n"
                builder.append(row: e.row, column: e.column, value: e.value)
            }
            let path = try s.write("\(name).mtx", text)
            let gz = try s.write("\(name).mtx.gz", try gzipped(Array(text.utf8)))
            #expect(text.utf8.count > 1 << 20, "the file must span many 4 KiB windows")
            let reference = builder.build()
            for threads in [1, 2, 3] {
                for (how, read) in [("mapped", { try MatrixMarket.readMatrix(from: path).matrix }),
                                    ("4 KiB windows", { try MatrixMarket.readMatrix(from: gz, options: window(4096)).matrix })] {
                    let m = try withThreads(threads) { try read() }
                    #expect(m.rowOffsets == reference.rowOffsets, "\(name), \(how), \(threads) threads")
                    #expect(m.columnIndices == reference.columnIndices, "\(name), \(how), \(threads) threads")
                    #expect(bitsEqual(m.values, reference.values), "\(name), \(how), \(threads) threads")
                }
            }
        }
    }

    /// The row-sorted fast path and the bucket path give the same matrix.
    @Test(arguments: ["real", "pattern"])
    func rowSortedAndShuffledFilesAgree(field: String) throws {
        let s = try Scratch()
        var g = SplitMix(seed: 13)
        let n = 40_000
        var keys = Set<Int>()
        while keys.count < 150_000 { keys.insert(Int.random(in: 0 ..< n, using: &g) * n + Int.random(in: 0 ..< n, using: &g)) }
        let sorted = keys.sorted()
        let lines = sorted.map { key in "\(key / n + 1) \(key % n + 1)" + (field == "real" ? " \(Double(key % 977) - 488.5)" : "") }
        let header = "%%MatrixMarket matrix coordinate \(field) general\n\(n) \(n) \(lines.count)\n"
        let inOrder = try s.write("sorted.mtx", header + lines.joined(separator: "\n") + "\n")
        let shuffled = try s.write("shuffled.mtx", header + lines.shuffled(using: &g).joined(separator: "\n") + "\n")
        for threads in [1, 2] {
            let a = try withThreads(threads) { try MatrixMarket.readMatrix(from: inOrder).matrix }
            let b = try withThreads(threads) { try MatrixMarket.readMatrix(from: shuffled).matrix }
            #expect(a == b)
            #expect(a.nonzeroCount == keys.count)
            #expect(a.value(row: sorted[0] / n, column: sorted[0] % n) == (field == "real" ? Double(sorted[0] % 977) - 488.5 : 1))
        }
    }
}
