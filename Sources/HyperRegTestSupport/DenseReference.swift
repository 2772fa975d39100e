// Dense reference computations, written independently of the sparse code paths, so tests
// can compare the two. Only for small sizes.

import Cholmod
import DenseLinearAlgebra
import SparseCore

/// A tiny deterministic generator for fixtures (SplitMix64); every test target's seeded
/// data comes from it (`SplitMix64` and `SplitMix` in the test targets are this type).
public struct FixtureRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A stream fixed by `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }
}

/// A random sparse matrix: each entry present with probability `density`, values uniform
/// in [-1, 1); every row gets at least one entry when `noEmptyRows`.
public func randomCSR(rows: Int, columns: Int, density: Double, seed: UInt64, noEmptyRows: Bool = true) -> CSRMatrix {
    var rng = FixtureRandom(seed: seed)
    var builder = CoordinateBuilder(rowCount: rows, columnCount: columns)
    for i in 0..<rows {
        var any = false
        for j in 0..<columns where rng.uniform() < density {
            builder.append(row: i, column: j, value: rng.uniform(-1, 1))
            any = true
        }
        if noEmptyRows && !any { builder.append(row: i, column: Int(rng.next() % UInt64(columns)), value: rng.uniform(-1, 1)) }
    }
    return builder.build()
}

/// Row-major dense matrix helpers.
public enum Dense {
    /// y = A x for row-major A (m x n).
    public static func multiply(_ a: [Double], rows m: Int, columns n: Int, _ x: [Double]) -> [Double] {
        (0..<m).map { i in (0..<n).reduce(0.0) { $0 + a[i * n + $1] * x[$1] } }
    }

    /// y = A^T x for row-major A (m x n).
    public static func transposeMultiply(_ a: [Double], rows m: Int, columns n: Int, _ x: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: n)
        for i in 0..<m { for j in 0..<n { y[j] += a[i * n + j] * x[i] } }
        return y
    }

    /// A^T diag(s) A (n x n, row-major) for row-major A (m x n).
    public static func weightedGram(_ a: [Double], rows m: Int, columns n: Int, weights s: [Double]) -> [Double] {
        var k = [Double](repeating: 0, count: n * n)
        for i in 0..<m {
            for j in 0..<n where a[i * n + j] != 0 {
                for l in 0..<n { k[j * n + l] += s[i] * a[i * n + j] * a[i * n + l] }
            }
        }
        return k
    }

    /// Solves K x = b for symmetric positive definite K (n x n) by Cholesky; nil if K is not SPD.
    public static func choleskySolve(_ k: [Double], _ b: [Double]) -> [Double]? {
        let n = b.count
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var s = k[j * n + j]
            for p in 0..<j { s -= l[j * n + p] * l[j * n + p] }
            guard s > 0 else { return nil }
            let ljj = s.squareRoot()
            l[j * n + j] = ljj
            for i in (j + 1)..<max(j + 1, n) {
                var t = k[i * n + j]
                for p in 0..<j { t -= l[i * n + p] * l[j * n + p] }
                l[i * n + j] = t / ljj
            }
        }
        var y = b
        for i in 0..<n {
            for p in 0..<i { y[i] -= l[i * n + p] * y[p] }
            y[i] /= l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for p in (i + 1)..<max(i + 1, n) { y[i] -= l[p * n + i] * y[p] }
            y[i] /= l[i * n + i]
        }
        return y
    }

    /// Smallest eigenvalue of a symmetric matrix by cyclic Jacobi (small n only).
    public static func symmetricEigenvalues(_ a: [Double], _ n: Int) -> [Double] {
        var m = a
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += m[p * n + q] * m[p * n + q] } }
            if off < 1e-30 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where m[p * n + q] != 0 {
                    let theta = (m[q * n + q] - m[p * n + p]) / (2 * m[p * n + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let mkp = m[k * n + p], mkq = m[k * n + q]
                        m[k * n + p] = c * mkp - s * mkq
                        m[k * n + q] = s * mkp + c * mkq
                    }
                    for k in 0..<n {
                        let mpk = m[p * n + k], mqk = m[q * n + k]
                        m[p * n + k] = c * mpk - s * mqk
                        m[q * n + k] = s * mpk + c * mqk
                    }
                }
            }
        }
        return (0..<n).map { m[$0 * n + $0] }.sorted()
    }
}

/// max_i |x_i - y_i| / max(max_i |y_i|, floor).
public func relativeMaxDifference(_ x: [Double], _ y: [Double], floor: Double = 1e-300) -> Double {
    precondition(x.count == y.count)
    var diff = 0.0, scale = floor
    for i in 0..<x.count { diff = max(diff, abs(x[i] - y[i])); scale = max(scale, abs(y[i])) }
    return diff / scale
}

/// ||x - y||_2 / ||y||_2.
public func relativeDistance(_ x: [Double], _ y: [Double]) -> Double {
    var d = 0.0, n = 0.0
    for i in 0..<x.count { d += (x[i] - y[i]) * (x[i] - y[i]); n += y[i] * y[i] }
    return (d / max(n, 1e-300)).squareRoot()
}

extension Dense {
    /// Solves the symmetric (possibly indefinite) system H s = r (H row-major n x n) through
    /// LAPACK's eigendecomposition (`dsyevd`, Cholmod's `DenseSymmetricEigen`):
    /// s = V diag(1/lambda) V^T r. Returns the solution and the eigenvalues (ascending); nil
    /// when LAPACK fails or an eigenvalue is exactly 0 (H singular).
    public static func symmetricSolve(_ h: [Double], _ r: [Double]) -> (solution: [Double], eigenvalues: [Double])? {
        let n = r.count
        guard let (values, vectors) = try? DenseSymmetricEigen.eigensystem(h, dimension: n) else { return nil }
        guard !values.contains(0) else { return nil }
        var s = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var c = 0.0
            for i in 0..<n { c += vectors[k * n + i] * r[i] }
            c /= values[k]
            for i in 0..<n { s[i] += c * vectors[k * n + i] }
        }
        return (s, values)
    }
}
