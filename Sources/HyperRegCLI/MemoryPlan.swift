// The memory plan of a run, made from the inputs' headers before anything large is read
// or allocated (docs/cli.md, "Memory"): shapes are checked against each other first (a b
// whose length differs from A's rows fails here, in microseconds, whatever A declares),
// then the bytes the run will hold are estimated and compared with the memory limit.

import Foundation
import MatrixMarket

/// Bytes a run may use: `--memory-limit`, else the memory available now.
struct MemoryLimit {
    /// The limit in bytes.
    let bytes: Int
    /// What the limit is, in words, for messages.
    let name: String
    /// Whether the user set it (`--memory-limit`); the reader then applies it to each file
    /// too (otherwise the reader applies its own default, physical memory and `ulimit -v`).
    var isExplicit = false

    /// The limit to hand to the Matrix Market reader.
    var readerLimit: Int? { isExplicit ? bytes : nil }

    /// `--memory-limit` when given, else the smallest of: memory available now
    /// (`MemAvailable` of /proc/meminfo, or physical memory where that is unknown) and the
    /// address-space limit (`ulimit -v`).
    static func current(option: Int?) -> MemoryLimit {
        var limit = MemoryLimit(bytes: Int.max, name: "no limit")
        func consider(_ bytes: Int, _ name: String) {
            if bytes > 0 && bytes < limit.bytes { limit = MemoryLimit(bytes: bytes, name: name) }
        }
        if let given = option { return MemoryLimit(bytes: given, name: "--memory-limit \(formatBytes(given))", isExplicit: true) }
        if let available = availableMemoryBytes() {
            consider(available, "the \(formatBytes(available)) of memory available now")
        } else {
            let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
            consider(physical, "this machine's \(formatBytes(physical)) of memory")
        }
        var rl = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &rl) == 0 && rl.rlim_cur != rlim_t.max {
            let cap = Int(clamping: rl.rlim_cur)
            consider(cap, "the address-space limit (ulimit -v) of \(formatBytes(cap))")
        }
        return limit
    }

    /// `MemAvailable` from /proc/meminfo, in bytes.
    private static func availableMemoryBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Int(fields[1]) { return kb * 1024 }
        }
        return nil
    }
}

/// Parses `--memory-limit`: bytes, or a number with k, M, G or T (powers of 1024,
/// optionally followed by B or iB), e.g. `512M`, `8G`, `1.5GiB`.
func parseMemorySize(_ text: String) -> Int? {
    var digits = Substring(text.trimmingCharacters(in: .whitespaces))
    for suffix in ["iB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
        digits = digits.dropLast(suffix.count)
        break
    }
    var scale = 1.0
    if let last = digits.last, let power = ["k": 1, "K": 1, "m": 2, "M": 2, "g": 3, "G": 3, "t": 4, "T": 4][last] {
        scale = pow(1024, Double(power))
        digits = digits.dropLast()
    }
    guard let value = Double(digits), value.isFinite, value > 0 else { return nil }
    let bytes = value * scale
    guard bytes < 9.2e18 else { return nil }
    return Int(bytes)
}

/// A run's inputs as their headers describe them, and the bytes the run will hold.
struct MemoryPlan {
    /// Rows and columns of A, from its header.
    let rows: Int
    let columns: Int

    /// Reads the headers of the regular files among the inputs (a pipe or standard input
    /// cannot be read twice: those are checked when read), checks that b and w have A's
    /// rows and every d-vector A's columns, then that the estimate fits `limit`.
    ///
    /// - Parameters:
    ///   - rowVectors: (what, path) of vectors with one entry per row of A (b, w).
    ///   - columnVectors: (what, path) of vectors with one entry per column (x0, references).
    ///   - dense: the run forms a dense d x d matrix besides the Hessian (diagnose).
    /// - Returns: nil when A itself is not a regular file (no plan possible before reading).
    /// - Throws: `CLIError` naming the file whose shape is wrong, or the plan that does not fit.
    @discardableResult
    static func check(matrix: String, rowVectors: [(String, String?)], columnVectors: [(String, String?)],
                      limit: MemoryLimit, dense: Bool = false) throws -> MemoryPlan? {
        // Each file's own header problems first, in reading order (A, then the vectors),
        // with the reader's messages; then the shapes against each other.
        let options = MatrixMarketReadOptions(memoryLimit: limit.readerLimit)
        guard let a = try header(matrix, asVector: false, options: options) else { return nil }
        let n = a.rowCount, d = a.columnCount
        let rowHeaders = try rowVectors.map { what, path in (what, path, try path.flatMap { try header($0, asVector: true, options: options) }) }
        let columnHeaders = try columnVectors.map { what, path in (what, path, try path.flatMap { try header($0, asVector: true, options: options) }) }
        for case let (what, path?, h?) in rowHeaders {
            let length = max(h.rowCount, h.columnCount)
            if length != n { throw CLIError("\(path): \(what) has \(length) entries but \(matrix) has \(n) rows") }
        }
        for case let (what, path?, h?) in columnHeaders {
            let length = max(h.rowCount, h.columnCount)
            if length != d { throw CLIError("\(path): \(what) has \(length) entries but \(matrix) has \(d) columns") }
        }
        let estimate = Estimate(header: a, dense: dense)
        if estimate.total > limit.bytes {
            throw CLIError("\(matrix): a \(n) x \(d) problem with \(a.storedEntryCount) stored entr\(a.storedEntryCount == 1 ? "y" : "ies") needs about \(formatBytes(estimate.total)) (\(estimate.parts)), more than \(limit.name); nothing was read. Use a machine with more memory, or set --memory-limit if the estimate is too cautious.")
        }
        return MemoryPlan(rows: n, columns: d)
    }

    /// The estimate, in parts (measured on a 2e6 x 10 problem with 4e6 nonzeros: peak RSS
    /// 339 MB for the sketch, 291 MB for exact; the formula gives 406 MB).
    struct Estimate {
        let matrix: Int, vectors: Int, hessian: Int, fixed: Int
        var total: Int { [matrix, vectors, hessian, fixed].reduce(0) { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 } }
        var parts: String {
            "A in CSR \(formatBytes(matrix)), 18 vectors of length n \(formatBytes(vectors)), d x d matrices \(formatBytes(hessian)), buffers and runtime \(formatBytes(fixed))"
        }

        init(header a: MatrixMarketHeader, dense: Bool) {
            func times(_ x: Int, _ y: Int) -> Int {
                let (p, o) = x.multipliedReportingOverflow(by: y)
                return o ? Int.max : p
            }
            // Symmetric storage expands to at most twice the stored entries.
            let entries = times(a.storedEntryCount, a.symmetry == .general ? 1 : 2)
            matrix = times(entries, 12) &+ times(a.rowCount &+ 1, 8)
            // b, w, z = A x, u, v, c, the gradient pieces, trial points, leverage scores:
            // 16 to 18 vectors of n doubles at the peak (measured, see above).
            vectors = times(a.rowCount, 18 * 8)
            // Hessian triangle, its factor and the dense assembly block: about 3 d x d.
            let square = times(a.columnCount, a.columnCount)
            hessian = times(square, (dense ? 5 : 3) * 8)
            // Sketch partials (at most 64 MiB) and the runtime.
            fixed = 96 << 20
        }
    }

    /// The checked header of `path` when it is a regular file (plain or gzip), else nil
    /// (a pipe or standard input cannot be read twice).
    private static func header(_ path: String, asVector: Bool, options: MatrixMarketReadOptions) throws -> MatrixMarketHeader? {
        guard path != "-" else { return nil }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        do { return try MatrixMarket.checkHeader(from: path, asVector: asVector, options: options) } catch { throw CLIError("\(error)") }
    }
}
