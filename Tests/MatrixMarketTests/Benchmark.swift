// Throughput measurement, skipped unless MM_BENCH is set (run it in release):
//
//   MM_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-mm \
//       --filter MatrixMarketTests.Benchmark
//
// (MM_BENCH_DIR=/some/dir keeps the generated files there.)
//
// Writes a ~200 MB coordinate real file and a ~100 MB array file to a temporary folder,
// then reads each with 1 and 2 threads and prints MB/s (file bytes / wall time, best of 3)
// and the peak resident memory of each read (VmHWM after a reset through clear_refs).

import Foundation
import MatrixMarket
import SparseCore
import Testing

@Suite("Benchmark", .serialized, .enabled(if: ProcessInfo.processInfo.environment["MM_BENCH"] != nil))
struct Benchmark {
    static func resetPeak() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

    static func peakMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kb / 1024
    }

    static func residentMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kb / 1024
    }

    static func measure(_ label: String, path: String, _ read: () throws -> Int) throws {
        let bytes = Double(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        for threads in [1, 2] {
            Parallelism.threadCount = threads
            var best = Double.infinity
            var peak = 0.0, base = 0.0, stored = 0
            for _ in 0 ..< 3 {
                base = residentMB()
                resetPeak()
                let start = ContinuousClock.now
                stored = try read()
                let elapsed = ContinuousClock.now - start
                peak = max(peak, peakMB())
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                best = min(best, seconds)
            }
            print(String(format: "BENCH %@ %d thread(s): %.0f MB in %.3f s = %.0f MB/s; %d stored; peak RSS %.0f MB (%.0f MB before)",
                         label, threads, bytes / 1e6, best, bytes / 1e6 / best, stored, peak, base))
        }
        Parallelism.threadCount = 0
    }

    @Test func readThroughput() throws {
        let s = try Scratch("mm-bench")
        // MM_BENCH_DIR keeps the generated files there (to compare with other readers).
        let keep = ProcessInfo.processInfo.environment["MM_BENCH_DIR"]
        func target(_ name: String) -> String { keep.map { $0 + "/" + name } ?? s.path(name) }
        // Coordinate: 1M x 1M, ~6.1M entries with random full-precision values, row order.
        var g = SplitMix(seed: 42)
        let n = 1_000_000, perRow = 6
        var offsets = [0], columns: [Int32] = [], values: [Double] = []
        for _ in 0 ..< n {
            let k = Int.random(in: 1 ... 2 * perRow - 1, using: &g)
            let cols = Set((0 ..< k).map { _ in Int32.random(in: 0 ..< Int32(n), using: &g) }).sorted()
            columns += cols
            for _ in cols { values.append(Double.random(in: -1 ... 1, using: &g)) }
            offsets.append(columns.count)
        }
        let a = try CSRMatrix(rowCount: n, columnCount: n, rowOffsets: offsets, columnIndices: columns, values: values)
        let coordinate = target("coordinate.mtx")
        var start = ContinuousClock.now
        try MatrixMarket.writeCoordinate(a, to: coordinate)
        print("BENCH writeCoordinate \(a.nonzeroCount) entries: \(ContinuousClock.now - start)")
        try Self.measure("coordinate real, row-sorted", path: coordinate) {
            try MatrixMarket.readMatrix(from: coordinate).matrix.nonzeroCount
        }
        // The same entries column by column (as SuiteSparse files are): rows arrive out of
        // order, so the reader scatters them into rows.
        let t = a.transposed()
        var text: [UInt8] = Array("%%MatrixMarket matrix coordinate real general\n\(n) \(n) \(a.nonzeroCount)\n".utf8)
        text.reserveCapacity(220_000_000)
        for j in 0 ..< n {
            for e in t.rowOffsets[j] ..< t.rowOffsets[j + 1] {
                text += "\(t.columnIndices[e] + 1) \(j + 1) \(t.values[e])\n".utf8
            }
        }
        let columnMajor = target("column-major.mtx")
        try AtomicFile.write(text, to: columnMajor)
        text = []
        try Self.measure("coordinate real, column-major", path: columnMajor) {
            try MatrixMarket.readMatrix(from: columnMajor).matrix.nonzeroCount
        }
        // gzip: decompression is one serial zlib stream, then the parse as above.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -1 -c '\(coordinate)' > '\(coordinate).gz'"]
        try process.run()
        process.waitUntilExit()
        try Self.measure("coordinate real, row-sorted, .gz (MB/s of uncompressed bytes)", path: coordinate) {
            try MatrixMarket.readMatrix(from: coordinate + ".gz").matrix.nonzeroCount
        }
        // Array: 5M random values as a vector.
        let vector = (0 ..< 5_000_000).map { _ in Double.random(in: -1e3 ... 1e3, using: &g) }
        let array = target("array.mtx")
        start = ContinuousClock.now
        try MatrixMarket.writeArray(vector, rowCount: vector.count, columnCount: 1, to: array)
        print("BENCH writeArray \(vector.count) values: \(ContinuousClock.now - start)")
        try Self.measure("array real (readVector)", path: array) {
            try MatrixMarket.readVector(from: array).count
        }
    }
}
