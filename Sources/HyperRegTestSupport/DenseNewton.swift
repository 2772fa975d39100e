// An independent dense Newton solver for small problems (d up to a few hundred), used as the
// reference loss of the bundled runs (Tests/CLITests/BundledDataTests.swift). It shares no
// code with HyperReg: the loss, gradient and Hessian are written here from docs/math.md with
// dense A, the Hessian A^T diag(delta) A is formed by BLAS dsyrk and the Newton system solved
// by LAPACK's symmetric eigendecomposition (dsyevd), with negative or tiny eigenvalues
// replaced by |lambda| (floored at 1e-10 lambda_max) so that every step is a descent
// direction, and an Armijo backtracking line search on the exact loss. No Woodbury, no
// CHOLMOD, no fall-back chain, no incremental z.

import Cholmod
import CSuiteSparse
import Foundation
import DenseLinearAlgebra
import SparseCore

/// A problem min_x 0.5 ||u(Ax) - <u(Ax),1> b||^2 + 0.5 ||w o Ax||^2 with dense A.
public struct DenseProblem: Sendable {
    /// u = f(z).
    public enum Function: String, Sendable { case exp, cosh, sinh }
    public let rows: Int, columns: Int
    /// Row-major rows x columns.
    public let a: [Double]
    public let b: [Double], w: [Double]
    public let function: Function

    public init(matrix: CSRMatrix, target: [Double], weights: [Double], function: Function) {
        rows = matrix.rowCount; columns = matrix.columnCount
        a = matrix.denseRowMajor()
        b = target; w = weights; self.function = function
    }

    func f(_ z: Double) -> Double {
        switch function { case .exp: return Foundation.exp(z); case .cosh: return Foundation.cosh(z); case .sinh: return Foundation.sinh(z) }
    }
    func fPrime(_ z: Double) -> Double {
        switch function { case .exp: return Foundation.exp(z); case .cosh: return Foundation.sinh(z); case .sinh: return Foundation.cosh(z) }
    }

    /// A x.
    public func multiply(_ x: [Double]) -> [Double] {
        var z = [Double](repeating: 0, count: rows)
        a.withUnsafeBufferPointer { a in
            for i in 0..<rows {
                var s = 0.0
                for j in 0..<columns { s += a[i * columns + j] * x[j] }
                z[i] = s
            }
        }
        return z
    }

    /// A^T y.
    public func transposeMultiply(_ y: [Double]) -> [Double] {
        var g = [Double](repeating: 0, count: columns)
        a.withUnsafeBufferPointer { a in
            for i in 0..<rows where y[i] != 0 {
                for j in 0..<columns { g[j] += a[i * columns + j] * y[i] }
            }
        }
        return g
    }

    /// L(x) from its definition.
    public func loss(_ x: [Double]) -> Double {
        let z = multiply(x)
        let u = z.map(f)
        let alpha = u.reduce(0, +)
        var l = 0.0
        for i in 0..<rows {
            let c = u[i] - alpha * b[i]
            l += 0.5 * c * c + 0.5 * (w[i] * z[i]) * (w[i] * z[i])
        }
        return l
    }

    /// g(x) (docs/math.md), computed here from the definition's derivatives.
    public func gradient(_ x: [Double]) -> [Double] { derivatives(x, hessian: false).gradient }

    /// L, g and (when asked) H, dense row-major d x d, at x (docs/math.md).
    public func derivatives(_ x: [Double], hessian: Bool) -> (loss: Double, gradient: [Double], hessian: [Double]) {
        let z = multiply(x)
        let u = z.map(f), v = z.map(fPrime)
        let alpha = u.reduce(0, +)
        let c = (0..<rows).map { u[$0] - alpha * b[$0] }
        let cb = zip(c, b).reduce(0) { $0 + $1.0 * $1.1 }
        var l = 0.0
        for i in 0..<rows { l += 0.5 * c[i] * c[i] + 0.5 * (w[i] * z[i]) * (w[i] * z[i]) }
        let r = (0..<rows).map { v[$0] * (c[$0] - cb) + w[$0] * w[$0] * z[$0] }
        let g = transposeMultiply(r)
        guard hessian else { return (l, g, []) }
        let delta = (0..<rows).map { v[$0] * v[$0] + c[$0] * u[$0] - cb * u[$0] + w[$0] * w[$0] }
        let p = transposeMultiply(v)
        let q = transposeMultiply(zip(v, b).map { $0 * $1 })
        let bb = b.reduce(0) { $0 + $1 * $1 }
        let d = columns
        var h = [Double](repeating: 0, count: d * d)
        // A^T diag(delta) A = B+^T B+ - B-^T B-, rows of B+- scaled by sqrt(max(+-delta, 0)).
        for sign in [1.0, -1.0] {
            var scaled = a
            var any = false
            for i in 0..<rows {
                let s = (max(sign * delta[i], 0)).squareRoot()
                if s != 0 { any = true }
                for j in 0..<d { scaled[i * d + j] *= s }
            }
            guard any else { continue }
            // Column-major, `scaled` is the d x n matrix B^T: C := sign * B^T B + C (upper).
            var n32 = Int32(d), k32 = Int32(rows), lda = Int32(d), ldc = Int32(d)
            var alpha = sign, beta = 1.0
            var upper = CChar(UInt8(ascii: "U")), noTranspose = CChar(UInt8(ascii: "N"))
            dsyrk_(&upper, &noTranspose, &n32, &k32, &alpha, scaled, &lda, &beta, &h, &ldc, 1, 1)
        }
        // Column-major upper triangle = row-major lower triangle: mirror it, add the rank-2 part.
        var full = [Double](repeating: 0, count: d * d)
        for col in 0..<d {
            for row in 0...col {
                let value = h[col * d + row]   // (row, col), row <= col
                full[row * d + col] = value
                full[col * d + row] = value
            }
        }
        for i in 0..<d {
            for j in 0..<d { full[i * d + j] += bb * p[i] * p[j] - p[i] * q[j] - q[i] * p[j] }
        }
        return (l, g, full)
    }
}

/// What `DenseNewton.solve` reached.
public struct DenseNewtonResult: Sendable {
    public var x: [Double]
    public var loss: Double
    public var gradientNorm: Double
    /// ||g(x)|| / ||g(x0)||.
    public var relativeGradientNorm: Double
    public var iterations: Int
    /// Why it stopped: "tolerance", "no decrease" (the round-off floor) or "iteration limit".
    public var stop: String
}

/// Dense Newton with eigenvalue-modified steps and Armijo backtracking.
public enum DenseNewton {
    /// Iterates from x0 until ||g|| <= tolerance ||g(x0)||, no step decreases L any more, or
    /// `maxIterations`. The default tolerance is far below hyperreg's 1e-10, so that the
    /// reference sits at the round-off floor: its loss is then exact to a few ulps of L
    /// (L - L* ~ g^T H^-1 g / 2 is second order in g).
    public static func solve(_ problem: DenseProblem, from x0: [Double], tolerance: Double = 1e-14,
                             maxIterations: Int = 200) -> DenseNewtonResult {
        let d = problem.columns
        var x = x0
        var current = problem.derivatives(x, hessian: true)
        let g0 = norm(current.gradient)
        var iterations = 0
        var stop = "iteration limit"
        while iterations < maxIterations {
            let gNorm = norm(current.gradient)
            if gNorm <= tolerance * g0 || gNorm == 0 { stop = "tolerance"; break }
            guard let (values, vectors) = try? DenseSymmetricEigen.eigensystem(current.hessian, dimension: d) else {
                stop = "LAPACK failed"; break
            }
            let top = values.map(abs).max() ?? 1
            var s = [Double](repeating: 0, count: d)
            for k in 0..<d {
                var coefficient = 0.0
                for i in 0..<d { coefficient += vectors[k * d + i] * current.gradient[i] }
                coefficient /= max(abs(values[k]), 1e-10 * top)
                for i in 0..<d { s[i] -= coefficient * vectors[k * d + i] }
            }
            let slope = zip(current.gradient, s).reduce(0) { $0 + $1.0 * $1.1 }
            guard slope < 0 else { stop = "no decrease"; break }
            var t = 1.0
            var accepted: [Double]? = nil
            for _ in 0..<60 {
                let trial = zip(x, s).map { $0 + t * $1 }
                let l = problem.loss(trial)
                if l.isFinite, l <= current.loss + 1e-4 * t * slope { accepted = trial; break }
                t *= 0.5
            }
            guard let next = accepted else { stop = "no decrease"; break }
            let nextDerivatives = problem.derivatives(next, hessian: true)
            // At the round-off floor a step may "decrease" L by noise without improving g:
            // stop rather than wander.
            if nextDerivatives.loss == current.loss && norm(nextDerivatives.gradient) >= gNorm { stop = "no decrease"; break }
            x = next
            current = nextDerivatives
            iterations += 1
        }
        let gNorm = norm(current.gradient)
        return DenseNewtonResult(x: x, loss: current.loss, gradientNorm: gNorm,
                                 relativeGradientNorm: g0 > 0 ? gNorm / g0 : 0, iterations: iterations, stop: stop)
    }

    public static func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}

