// Fixtures for the Cholmod tests: a seeded generator, random sparse symmetric and
// rectangular matrices, a small dense Cholesky reference, norms, and an stdout capture.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HyperRegTestSupport
import SparseCore

/// SplitMix64: the shared seeded generator of HyperRegTestSupport, so every test matrix is
/// reproducible.
typealias SplitMix64 = FixtureRandom

/// The upper triangle of a symmetric matrix in CSC form (what `SymmetricFactor` takes).
struct UpperPattern {
    var dimension: Int
    var columnOffsets: [Int32]
    var rowIndices: [Int32]
    var entryCount: Int { rowIndices.count }

    /// A random pattern: each off-diagonal (i < j) present with probability `density`;
    /// the diagonal always present unless `includeDiagonal` is false.
    static func random(dimension d: Int, density: Double, includeDiagonal: Bool = true,
                       using rng: inout SplitMix64) -> UpperPattern {
        var offsets: [Int32] = [0]
        var rows: [Int32] = []
        for j in 0..<d {
            for i in 0..<j where Double.random(in: 0..<1, using: &rng) < density { rows.append(Int32(i)) }
            if includeDiagonal { rows.append(Int32(j)) }
            offsets.append(Int32(rows.count))
        }
        return UpperPattern(dimension: d, columnOffsets: offsets, rowIndices: rows)
    }

    /// A banded pattern: entries (i, j) with `0 <= j - i <= bandwidth`.
    static func banded(dimension d: Int, bandwidth: Int) -> UpperPattern {
        var offsets: [Int32] = [0]
        var rows: [Int32] = []
        for j in 0..<d {
            for i in max(0, j - bandwidth)...j { rows.append(Int32(i)) }
            offsets.append(Int32(rows.count))
        }
        return UpperPattern(dimension: d, columnOffsets: offsets, rowIndices: rows)
    }

    /// Values for this pattern: off-diagonal entries uniform in [-1, 1]; each diagonal entry
    /// is its row's off-diagonal absolute sum plus a margin in [1, 2). By Gershgorin every
    /// eigenvalue is in [1, 2 R + 2] (R the largest off-diagonal row sum), so the matrix is
    /// SPD with condition number at most 2 R + 2. Column `negativeColumn`, if given, gets
    /// diagonal -1 instead: the matrix is then indefinite, and every principal submatrix
    /// without that column is still SPD (strictly diagonally dominant).
    func randomValues(negativeColumn: Int? = nil, using rng: inout SplitMix64) -> [Double] {
        var values = [Double](repeating: 0, count: entryCount)
        var rowSums = [Double](repeating: 0, count: dimension)
        for j in 0..<dimension {
            for k in Int(columnOffsets[j])..<Int(columnOffsets[j + 1]) where Int(rowIndices[k]) != j {
                let v = Double.random(in: -1...1, using: &rng)
                values[k] = v
                rowSums[j] += Swift.abs(v)
                rowSums[Int(rowIndices[k])] += Swift.abs(v)
            }
        }
        for j in 0..<dimension {
            for k in Int(columnOffsets[j])..<Int(columnOffsets[j + 1]) where Int(rowIndices[k]) == j {
                values[k] = j == negativeColumn ? -1 : rowSums[j] + Double.random(in: 1..<2, using: &rng)
            }
        }
        return values
    }

    /// The full symmetric matrix (row-major) with `values`, plus `shift` on the diagonal.
    func dense(_ values: [Double], shift: Double = 0) -> [Double] {
        let d = dimension
        var a = [Double](repeating: 0, count: d * d)
        for j in 0..<d {
            for k in Int(columnOffsets[j])..<Int(columnOffsets[j + 1]) {
                let i = Int(rowIndices[k])
                a[i * d + j] = values[k]
                a[j * d + i] = values[k]
            }
            a[j * d + j] += shift
        }
        return a
    }

    /// The largest off-diagonal absolute row sum R of the symmetric matrix.
    func offDiagonalRowSumBound(_ values: [Double]) -> Double {
        var sums = [Double](repeating: 0, count: dimension)
        for j in 0..<dimension {
            for k in Int(columnOffsets[j])..<Int(columnOffsets[j + 1]) where Int(rowIndices[k]) != j {
                sums[j] += Swift.abs(values[k])
                sums[Int(rowIndices[k])] += Swift.abs(values[k])
            }
        }
        return sums.max() ?? 0
    }
}

/// A random `n x d` CSR matrix: each entry present with probability `density`, values
/// uniform in [-1, 1]; every row gets at least one entry; columns in `emptyColumns` get none.
/// With a `window`, each row's entries lie in `window` consecutive columns at a random
/// place, so that `AᵀA` is banded (bandwidth < window) instead of filling up.
func randomCSR(rows n: Int, columns d: Int, density: Double, emptyColumns: Set<Int> = [], window: Int? = nil,
               using rng: inout SplitMix64) -> CSRMatrix {
    var offsets = [0]
    var indices = [Int32]()
    var values = [Double]()
    let all = (0..<d).filter { !emptyColumns.contains($0) }
    for _ in 0..<n {
        let start = indices.count
        var allowed = all
        if let w = window {
            let first = Int.random(in: 0...(d - w), using: &rng)
            allowed = all.filter { $0 >= first && $0 < first + w }
        }
        for j in allowed where Double.random(in: 0..<1, using: &rng) < density {
            indices.append(Int32(j))
            values.append(Double.random(in: -1...1, using: &rng))
        }
        if indices.count == start, let j = allowed.randomElement(using: &rng) {
            indices.append(Int32(j))
            values.append(Double.random(in: 0.5...1, using: &rng))
        }
        offsets.append(indices.count)
    }
    return CSRMatrix(uncheckedRowCount: n, columnCount: d, rowOffsets: offsets, columnIndices: indices, values: values)
}

/// `Aᵀ diag(weights) A + shift I`, dense row-major `d x d`, one row's outer product at a time.
func denseNormalMatrix(_ a: CSRMatrix, weights: [Double]? = nil, shift: Double = 0) -> [Double] {
    let d = a.columnCount
    var m = [Double](repeating: 0, count: d * d)
    for i in 0..<a.rowCount {
        let s = weights?[i] ?? 1
        let range = a.rowOffsets[i]..<a.rowOffsets[i + 1]
        for p in range {
            let jp = Int(a.columnIndices[p]), vp = s * a.values[p]
            for q in range { m[jp * d + Int(a.columnIndices[q])] += vp * a.values[q] }
        }
    }
    for j in 0..<d { m[j * d + j] += shift }
    return m
}

/// Solves `M X = B` by a dense Cholesky factorisation (the test reference), or nil if M is
/// not numerically positive definite. M is row-major `n x n`. (Raw pointers: this runs
/// unoptimised in debug test builds, where it dominates the test time.)
func denseCholeskySolve(_ m: [Double], dimension n: Int, _ columns: [[Double]]) -> [[Double]]? {
    let l = UnsafeMutablePointer<Double>.allocate(capacity: max(1, n * n))
    defer { l.deallocate() }
    m.withUnsafeBufferPointer { src in
        if let base = src.baseAddress { l.initialize(from: base, count: n * n) }
    }
    // The envelope: row i of M (and of L) is zero left of column first[i]; banded test
    // matrices then cost O(n b^2) instead of O(n^3).
    let first = (0..<n).map { i in (0..<i).first { l[i * n + $0] != 0 } ?? i }
    // Row-oriented (Cholesky-Crout): L(i, j) = (M(i, j) - <L(i, 0..<j), L(j, 0..<j)>) / L(j, j).
    for j in 0..<n {
        let rowJ = l + j * n
        var djj = rowJ[j]
        for k in first[j]..<j { djj -= rowJ[k] * rowJ[k] }
        guard djj > 0 else { return nil }
        let ljj = djj.squareRoot()
        rowJ[j] = ljj
        for i in (j + 1)..<n where first[i] <= j {
            let rowI = l + i * n
            var s = rowI[j]
            for k in max(first[i], first[j])..<j { s -= rowI[k] * rowJ[k] }
            rowI[j] = s / ljj
        }
    }
    return columns.map { b in
        var y = b
        for i in 0..<n {
            let rowI = l + i * n
            var s = y[i]
            for k in 0..<i { s -= rowI[k] * y[k] }
            y[i] = s / rowI[i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * y[k] }
            y[i] = s / l[i * n + i]
        }
        return y
    }
}

/// `M x` for a dense row-major `n x n` M.
func denseMultiply(_ m: [Double], dimension n: Int, _ x: [Double]) -> [Double] {
    (0..<n).map { i in
        var s = 0.0
        for j in 0..<n { s += m[i * n + j] * x[j] }
        return s
    }
}

func norm(_ x: [Double]) -> Double { x.reduce(0) { $0 + $1 * $1 }.squareRoot() }

/// `||x - y|| / ||y||`.
func relativeDifference(_ x: [Double], _ y: [Double]) -> Double {
    norm(zip(x, y).map { $0 - $1 }) / norm(y)
}

/// `||M x - b|| / ||b||`.
func relativeResidual(_ m: [Double], dimension n: Int, _ x: [Double], _ b: [Double]) -> Double {
    relativeDifference(denseMultiply(m, dimension: n, x), b)
}

/// The Frobenius norm of a dense matrix.
func frobenius(_ m: [Double]) -> Double { norm(m) }

func randomVector(_ n: Int, using rng: inout SplitMix64) -> [Double] {
    (0..<n).map { _ in Double.random(in: -1...1, using: &rng) }
}

/// Runs `body` with file descriptor 1 (stdout) redirected to a temporary file and returns
/// what was written there. C stdio is flushed before and after, so `printf` output from C
/// code (CHOLMOD's messages) is captured. Other threads writing to stdout meanwhile are
/// captured too, so callers look for specific text, not for emptiness.
func captureStandardOutput(_ body: () throws -> Void) rethrows -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cholmod-stdout-\(UUID().uuidString)").path
    fflush(nil)
    let saved = dup(1)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(saved >= 0 && fd >= 0, "cannot redirect stdout")
    dup2(fd, 1)
    close(fd)
    defer { try? FileManager.default.removeItem(atPath: path) }
    do {
        try body()
    } catch {
        fflush(nil)
        dup2(saved, 1)
        close(saved)
        throw error
    }
    fflush(nil)
    dup2(saved, 1)
    close(saved)
    return readWholeFile(path)
}

/// The bytes of a file as UTF-8 text, read with POSIX calls (Foundation's
/// `String(contentsOfFile:)` leaks a buffer on an empty file, which upsets ASan runs).
private func readWholeFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
