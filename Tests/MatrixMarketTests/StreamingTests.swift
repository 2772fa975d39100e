// Streams (gzip, standard input, FIFOs) are read in bounded windows; NUL bytes and lines
// over the maximum length are errors at once, on streams and mapped files alike.

import Foundation
import MatrixMarket
import SparseCore
import HyperRegTestSupport
import Testing

/// Read options with the stream window set to `bytes`.
func window(_ bytes: Int) -> MatrixMarketReadOptions {
    var options = MatrixMarketReadOptions()
    options.streamWindowBytes = bytes
    return options
}

/// Starts `/bin/sh -c script` (e.g. a writer into a FIFO); the caller waits for it.
func startShell(_ script: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Runs `/bin/sh -c script` and returns its exit status and standard error.
func runShell(_ script: String) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The built `hyperreg` binary (`swift build` makes it), or HYPERREG_BINARY.
let hyperregBinary: String? = {
    if let path = ProcessInfo.processInfo.environment["HYPERREG_BINARY"] { return path }
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundleDir.appendingPathComponent("hyperreg").path,
                      bundleDir.deletingLastPathComponent().appendingPathComponent("hyperreg").path,
                      TestPaths.packageRoot.appendingPathComponent(".build/debug/hyperreg").path]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// A fresh FIFO in `s`.
func makeFIFO(_ s: Scratch, _ name: String) throws -> String {
    let path = s.path(name)
    try #require(mkfifo(path, 0o600) == 0, "mkfifo failed")
    return path
}

private let banner = "%%MatrixMarket matrix coordinate real general\n"

@Suite("Streams and line limits", .serialized)
struct StreamingTests {
    /// About 9 MB of text: unsorted entries with duplicates and comment lines, and no final
    /// newline (the unterminated last line crosses into the last window).
    static func makeText(entries: Int = 300_000) -> String {
        var g = SplitMix(seed: 21)
        let n = 4000
        var text = banner + "% streamed\n\(n) \(n) \(entries)\n"
        text.reserveCapacity(entries * 32)
        for k in 0 ..< entries {
            let i = k % 9 == 0 ? k % 5 : Int.random(in: 0 ..< n, using: &g)
            let j = k % 9 == 0 ? k % 3 : Int.random(in: 0 ..< n, using: &g)
            text += "\(i + 1) \(j + 1) \(Double.random(in: -1e3 ... 1e3, using: &g))"
            text += k % 5000 == 0 ? "\n%  comment \(k)\n\n" : "\n"
        }
        text.removeLast()
        return text
    }

    static func expectIdentical(_ a: CSRMatrix, _ b: CSRMatrix, _ what: String) {
        #expect(a.rowOffsets == b.rowOffsets, "\(what)")
        #expect(a.columnIndices == b.columnIndices, "\(what)")
        #expect(bitsEqual(a.values, b.values), "\(what)")
    }

    /// gzip, standard input and a FIFO give the plain file's matrix, bit for bit, with 1 and
    /// 2 threads, with the default window and with a window of an odd size, whose boundaries
    /// fall inside lines and numbers.
    @Test(.timeLimit(.minutes(5)))
    func streamsReadIdenticallyToThePlainFile() throws {
        let s = try Scratch()
        let text = Self.makeText()
        let bytes = Array(text.utf8)
        let plain = try s.write("a.mtx", bytes)
        let gz = try s.write("a.mtx.gz", try gzipped(bytes))
        let reference = try withThreads(1) { try MatrixMarket.readMatrix(from: plain).matrix }
        #expect(reference.nonzeroCount > 200_000)
        let odd = 1_000_003
        // Window boundaries inside a line: neither the last byte before a boundary nor the
        // first after it is a newline, for the first boundaries (data offsets from the size line).
        var dataStart = 0, newlines = 0
        while newlines < 3 { if bytes[dataStart] == 0x0A { newlines += 1 }; dataStart += 1 }
        let insideLine = (1 ... 5).filter { k in bytes[dataStart + k * odd - 1] != 0x0A && bytes[dataStart + k * odd] != 0x0A }
        #expect(insideLine.count >= 3, "the odd window must cut lines")
        for bytes in [odd, 32 << 20] {
            for threads in [1, 2] {
                try withThreads(threads) {
                    let what = "window \(bytes), \(threads) threads"
                    Self.expectIdentical(try MatrixMarket.readMatrix(from: gz, options: window(bytes)).matrix, reference, "gzip, " + what)
                    Self.expectIdentical(try withStandardInput(from: plain) { try MatrixMarket.readMatrix(from: "-", options: window(bytes)).matrix }, reference, "stdin, " + what)
                }
            }
        }
        // 4 KiB windows: one chunk each, about 2300 in all, so the unsorted assembly takes
        // its chunks in groups of several (at most 1024 groups).
        for threads in [1, 2] {
            Self.expectIdentical(try withThreads(threads) { try MatrixMarket.readMatrix(from: gz, options: window(4096)).matrix },
                                 reference, "gzip, window 4096, \(threads) threads")
        }
        let fifo = try makeFIFO(s, "a.fifo")
        let writer = try startShell("cat '\(plain)' > '\(fifo)'")
        let fromFIFO = try withThreads(2) { try MatrixMarket.readMatrix(from: fifo, options: window(odd)).matrix }
        writer.waitUntilExit()
        Self.expectIdentical(fromFIFO, reference, "FIFO")
    }

    /// A window of a few bytes: every line and number is cut somewhere; errors keep their
    /// exact line across windows, for entry errors, too many entries and truncation.
    @Test func tinyWindowsAndErrorLines() throws {
        let s = try Scratch()
        var lines = [banner.dropLast().description, "% c", "5 5 6"]
        for k in 1 ... 6 { lines.append("\(k % 5 + 1) \(k % 3 + 1) \(Double(k) * 1.25e-3)") }
        let good = lines.joined(separator: "\n") + "\n"
        let plain = try s.write("good.mtx", good)
        let reference = try MatrixMarket.readMatrix(from: plain).matrix
        var bad = lines
        bad[7] = "2 2 1.5D+02"
        let tooMany = lines + ["1 1 1", "2 2 2"]
        let tooFew = Array(lines.dropLast(2)) + ["", "% end"]
        // An array vector too (values only, comment and blank lines between them).
        let arrayText = "%%MatrixMarket matrix array real general\n% v\n7 1\n" + (1 ... 7).map { "\(Double($0) / 3)" }.joined(separator: "\n\n% x\n") + "\n"
        let arrayPlain = try s.write("v.mtx", arrayText)
        let arrayGz = try s.write("v.mtx.gz", try gzipped(Array(arrayText.utf8)))
        let vector = try MatrixMarket.readVector(from: arrayPlain)
        #expect(vector.count == 7)
        for bytes in [1, 3, 7, 64] {
            do {
                #expect(bitsEqual(try MatrixMarket.readVector(from: arrayGz, options: window(bytes)), vector), "window \(bytes)")
                Self.expectIdentical(try MatrixMarket.readMatrix(from: try s.write("g\(bytes).mtx.gz", try gzipped(Array(good.utf8))), options: window(bytes)).matrix, reference, "window \(bytes)")
                for (name, text, line, fragment) in [("bad", bad, 8, "invalid number '1.5D+02'"), ("many", tooMany, 10, "too many entries"),
                                                     ("few", tooFew, 9, "truncated: expected 6 entries, found 4")] {
                    let path = try s.write("\(name)\(bytes).mtx.gz", try gzipped(Array((text.joined(separator: "\n") + "\n").utf8)))
                    let error = caught { try MatrixMarket.readMatrix(from: path, options: window(bytes)) }
                    #expect(error?.line == line, "\(name), window \(bytes): \(String(describing: error))")
                    #expect(error?.message.contains(fragment) == true, "\(name), window \(bytes): \(String(describing: error))")
                }
            }
        }
    }

    /// An endless stream is rejected as soon as the bytes show the problem: a FIFO with a
    /// valid header then zeros forever (NUL), and one that repeats a valid entry forever
    /// after declaring 5 (too many entries, found in the first window). Reading it whole would
    /// never end (the time limit fails the test).
    @Test(.timeLimit(.minutes(1)))
    func endlessStreamsFailAtOnce() throws {
        let s = try Scratch()
        let fifo = try makeFIFO(s, "endless.fifo")
        let zeros = try startShell("{ printf '\(banner.dropLast())\\n3 3 5\\n1 1 1\\n'; cat /dev/zero; } > '\(fifo)'")
        let nul = caught { try MatrixMarket.readMatrix(from: fifo) }
        zeros.waitUntilExit()
        #expect(nul?.line == 4, "\(String(describing: nul))")
        #expect(nul?.message.contains("NUL byte at column 1") == true, "\(String(describing: nul))")
        let entries = try startShell("{ printf '\(banner.dropLast())\\n3 3 5\\n'; yes '2 2 0.5'; } > '\(fifo)'")
        let many = caught { try MatrixMarket.readMatrix(from: fifo) }
        entries.waitUntilExit()
        #expect(many?.line == 8, "\(String(describing: many))")
        #expect(many?.message.contains("too many entries") == true, "\(String(describing: many))")
    }

    /// NUL bytes in the header, on a mapped file and on a gzip stream, for readHeader and
    /// readMatrix; in a data comment line; and at the very start of a stream.
    @Test func nulBytesAreErrorsWithTheirLine() throws {
        let s = try Scratch()
        // (text, line, column, whether the NUL is in the header, which readHeader reads)
        let cases: [(String, Int, Int, Bool)] = [
            ("%%MatrixMarket matrix coordinate real\u{0} general\n3 3 0\n", 1, 38, true),
            (banner + "% a comment\u{0}\n3 3 0\n", 2, 12, true),
            (banner + "3 3\u{0} 0\n", 2, 4, true),
            (banner + "3 3 1\n% fine\n%\u{0}\n1 1 1\n", 4, 2, false),
            ("\u{0}\u{0}\u{0}", 1, 1, true),
        ]
        for (k, (text, line, column, inHeader)) in cases.enumerated() {
            let plain = try s.write("n\(k).mtx", text)
            let gz = try s.write("n\(k).mtx.gz", try gzipped(Array(text.utf8)))
            for path in [plain, gz] {
                var errors = [caught { try MatrixMarket.readMatrix(from: path) }]
                if inHeader { errors.append(caught { try MatrixMarket.readHeader(from: path) }) }
                for error in errors {
                    #expect(error?.line == line, "\(path): \(String(describing: error))")
                    #expect(error?.message.contains("NUL byte at column \(column)") == true, "\(path): \(String(describing: error))")
                }
            }
        }
    }

    /// Lines over 1 MiB on streams: in the header, in the data (crossing a window), and as
    /// the unterminated last line; a line of exactly 1 MiB is fine.
    @Test func overlongLinesOnStreams() throws {
        let s = try Scratch()
        let maximum = 1 << 20
        let long = String(repeating: "9", count: maximum + 1)
        let cases: [(String, Int?)] = [
            (banner + "%" + String(repeating: "c", count: maximum - 1) + "\n2 2 1\n" + "1 1 " + String(repeating: " ", count: maximum - 6) + "1\n", nil),
            (banner + "%" + String(repeating: "c", count: maximum) + "\n2 2 1\n1 1 1\n", 2),
            (banner + "2 2 2\n1 1 1\n2 2 " + long + "\n", 4),
            (banner + "2 2 2\n1 1 1\n2 2 " + long, 4),
            (banner + "2 2 2\n1 1 1\n% " + long + "\n2 2 2\n", 4),
        ]
        for (k, (text, line)) in cases.enumerated() {
            let bytes = Array(text.utf8)
            let plain = try s.write("l\(k).mtx", bytes)
            let gz = try s.write("l\(k).mtx.gz", try gzipped(bytes))
            for bytes in [65_537, 32 << 20] {
                do {
                    for path in [plain, gz] {
                        let error = caught { try MatrixMarket.readMatrix(from: path, options: window(bytes)) }
                        if line == nil { #expect(error == nil, "case \(k): \(String(describing: error))") }
                        #expect(error?.line == line, "case \(k), \(path): \(String(describing: error))")
                        if line != nil {
                            #expect(error?.message.contains("line longer than the maximum of 1048576 bytes") == true, "case \(k): \(String(describing: error))")
                        }
                    }
                }
            }
        }
    }

    /// A valid header then a 5 GB hole (zeros, no newline) in a sparse file: rejected with a
    /// NUL error on the first line of the hole. Before, it took minutes and gigabytes; the
    /// time is not asserted (docs/matrix-market.md has the measurement).
    @Test(.timeLimit(.minutes(2)))
    func sparseFileWithAHugeHole() throws {
        let s = try Scratch()
        let path = try s.write("hole.mtx", banner + "% a hole follows\n3 3 2\n1 1 1\n")
        let fd = open(path, O_WRONLY)
        try #require(fd >= 0)
        #expect(ftruncate(fd, 5 << 30) == 0)
        close(fd)
        for threads in [1, 2] {
            let error = withThreads(threads) { caught { try MatrixMarket.readMatrix(from: path) } }
            #expect(error?.line == 5, "\(String(describing: error))")
            #expect(error?.message.contains("NUL byte at column 1") == true, "\(String(describing: error))")
        }
    }

    /// The built binary under `ulimit -v` (400 MB of address space; the binary alone needs
    /// about 200-300 MB of it, and hangs at start-up under 200 MB, before and after this
    /// change): a gzip bomb of 1 GiB of zeros, with and without a valid
    /// header, is rejected with a NUL error instead of being inflated (which needed over
    /// 1 GB and failed with "out of memory"); a size line declaring about 1.1 GB of entries is
    /// refused with the address-space message before reading on; a file too big to map under
    /// the limit is streamed.
    @Test(.timeLimit(.minutes(2)))
    func gzipBombUnderAnAddressSpaceLimit() throws {
        let binary = try #require(hyperregBinary, "the hyperreg binary was not found; run `swift build` first")
        let s = try Scratch()
        let bare = s.path("bomb.mtx.gz"), headed = s.path("headed.mtx.gz")
        #expect(try runShell("head -c 1073741824 /dev/zero | gzip -1 > '\(bare)'").status == 0)
        #expect(try runShell("{ printf '\(banner.dropLast())\\n3 3 1\\n'; head -c 1073741824 /dev/zero; } | gzip -1 > '\(headed)'").status == 0)
        let size = try FileManager.default.attributesOfItem(atPath: bare)[.size] as! Int
        #expect(size < 8 << 20, "1 GiB of zeros compresses to a few MB")
        // An AddressSanitizer build (scripts/asan-test.sh) reserves terabytes of address space
        // for its shadow memory and cannot start under the limit: then the bombs run without
        // it (the messages still tell the old reader apart) and the size-line check is skipped.
        let limited = try runShell("ulimit -v 400000; exec timeout 20 '\(binary)' --help").status == 0
        // OPENBLAS_NUM_THREADS=1: under the limit, OpenBLAS's thread pool (started when the
        // library loads) could retry a refused 128 MB buffer forever and keep exit() waiting
        // (seen once in about 16 runs, diagnosed with gdb).
        let limit = limited ? "export OPENBLAS_NUM_THREADS=1; ulimit -v 400000; " : ""
        let declared = try s.write("declared.mtx", banner + "1000 1000 40000000\n1 1 1\n")
        var cases = [(bare, ":1: NUL byte at column 1"), (headed, ":3: NUL byte at column 1")]
        if limited { cases.append((declared, ":2: the size line declares 40000000 entries")) }
        for (path, fragment) in cases {
            let run = try runShell(limit + "exec '\(binary)' info '\(path)'")
            #expect(run.status == 1, "\(path): \(run.stderr)")
            #expect(run.stderr.contains(fragment), "\(path): \(run.stderr)")
        }
        if limited {
            let run = try runShell(limit + "exec '\(binary)' info '\(declared)'")
            #expect(run.stderr.contains("of address space this process has left under its limit (ulimit -v)"), "\(run.stderr)")
            // A 1 GB (sparse) file cannot be mapped under the limit: it is read as a stream
            // (before: "cannot map the file: Cannot allocate memory").
            let big = try s.write("big.mtx", banner + "3 3 1\n1 1 1\n")
            let fd = open(big, O_WRONLY)
            try #require(fd >= 0)
            #expect(ftruncate(fd, 1 << 30) == 0)
            close(fd)
            let streamed = try runShell(limit + "exec '\(binary)' info '\(big)'")
            #expect(streamed.stderr.contains(":4: NUL byte at column 1"), "\(streamed.stderr)")
        }
    }
}
