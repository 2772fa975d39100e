// The objective's streaming passes (formulas: docs/math.md).
//
//   pass over A      z = A x, u = f(z), v = f'(z) (for exp v is u itself)
//   vector pass      alpha, then c_i = u_i - alpha b_i, ||c||^2, <b,c>, ||w o z||^2
//   transpose pass   A^T [ v o (c - <b,c>) + w^2 o z ,  v ,  v o b ]  -> g, p, q
//
// c is not stored: every pass that needs c_i forms it as u_i - alpha b_i (the same bits as the
// vector pass), so an evaluation holds two n-vectors for exp (z, u) and three for cosh and
// sinh (z, u, v), not four or five.
//
// Two passes over A per gradient (and p, q ride along in the second). A trial point
// x + t s of a line search needs no pass at all once A s is known: z(t) = z + t A s.

import SparseCore

/// Everything known about the objective at one point after the forward pass.
public struct Evaluation: Sendable {
    /// z = A x (n).
    public let z: [Double]
    /// u = f(z) (n).
    public let u: [Double]
    /// v = f'(z) (n); for exp the very array u (u' = u), not a copy.
    public let v: [Double]
    /// b, the problem's target (the problem's array, not a copy), for c.
    let target: [Double]
    /// c = u - alpha b (n), formed on each access: not stored (the solver's passes form
    /// `c_i = u_i - alpha b_i` as they go, `cEntry`). Bind it once outside a loop.
    public var c: [Double] { zip(u, target).map { $0 - alpha * $1 } }
    /// `c_i = u_i - alpha b_i`, the same bits as the evaluation's own vector pass.
    @inline(__always) func cEntry(_ i: Int) -> Double { u[i] - alpha * target[i] }
    /// True when v is u's own storage (exp), so that only one of them goes back to a pool.
    var sharesDerivative: Bool {
        u.withUnsafeBufferPointer { ub in v.withUnsafeBufferPointer { vb in ub.baseAddress == vb.baseAddress } }
    }
    /// alpha = <u, 1>.
    public let alpha: Double
    /// <b, c>.
    public let bDotC: Double
    /// 0.5 ||c||^2.
    public let fitLoss: Double
    /// 0.5 ||w o z||^2.
    public let regularizationLoss: Double
    /// L = fitLoss + regularizationLoss.
    public var loss: Double { fitLoss + regularizationLoss }
    /// max |z_i|, for overflow messages.
    public let maxAbsZ: Double
    /// The row (0-based, of this rank's block) where |z| is largest; in a distributed run
    /// meaningful only on rank `maxAbsZRank`.
    public let maxAbsZRow: Int
    /// The rank holding the row where |z| is largest (0 unless distributed).
    public var maxAbsZRank: Int = 0
    /// True when every quantity above is finite (no overflow).
    public var isFinite: Bool { loss.isFinite && alpha.isFinite && bDotC.isFinite }
}

/// The gradient and the rank-2 Hessian pieces from one transpose pass.
public struct GradientPieces: Sendable {
    /// g = A^T (v o (c - <b,c>) + w^2 o z).
    public let gradient: [Double]
    /// p = A^T v.
    public let p: [Double]
    /// q = A^T (v o b).
    public let q: [Double]
}

/// Counts of streaming passes over A, for the report.
public struct PassCounter: Sendable {
    /// Passes of the form A x.
    public var forward = 0
    /// Passes of the form A^T y (one per call, whatever the number of y's).
    public var transpose = 0
    /// Hessian assemblies (one pass over A, heavier per row).
    public var assembly = 0
    /// Passes for leverage scores (two per estimate: the sparse embedding and the projection).
    public var leverage = 0
    /// Assemblies over a leverage-score sample: they read only the kept rows, so they are not
    /// counted as passes (their time is in the timings).
    public var sampledAssembly = 0
    /// Assemblies (of either kind above) done by dense row blocks with BLAS dsyrk instead of
    /// the sparse scatter, because the rows are dense enough (`HessianCostModel.assemblyCost`).
    public var denseBlockAssembly = 0
    /// Passes for the rank check of a rank-deficient A (the dense Gram A^T A, once).
    public var rankCheck = 0
    /// Total passes over A (forward, transpose, full assemblies, leverage, rank check).
    public var total: Int { forward + transpose + assembly + leverage + rankCheck }
}

/// The objective of a `Problem` and its derivatives, computed by streaming passes.
public struct Objective: Sendable {
    /// The problem.
    public let problem: Problem
    private let vectorPartition: RowPartition
    /// n-vectors handed back by the solver (`recycle`) for the next evaluation, weights or
    /// product: the hot path allocates no new n-vector after the first iteration.
    package let pool = VectorPool()

    /// Creates the objective for `problem`.
    public init(problem: Problem) {
        self.problem = problem
        vectorPartition = RowPartition(rowCount: problem.rowCount, maxChunks: 64, minimumRows: 1 << 14)
    }

    /// Hands the n-vectors of `e` (z, u, v, c) back to the pool for this objective's next
    /// evaluations (the solver does so with every iterate it leaves). `e` stays valid: a vector
    /// still referenced elsewhere is copied on its next write instead of re-used in place.
    public func recycle(_ e: Evaluation) {
        pool.recycle(e.z); pool.recycle(e.u)
        if !e.sharesDerivative { pool.recycle(e.v) }
    }

    /// Hands an n-vector (Hessian weights, a product `A s`) back to the pool.
    public func recycle(_ vector: [Double]) { pool.recycle(vector) }

    /// Evaluates at x: one pass over A (z = A x, u, v, alpha) and a vector pass.
    public func evaluate(_ x: [Double]) -> Evaluation {
        let a = problem.matrix
        precondition(x.count == a.columnCount)
        let n = a.rowCount
        let kind = problem.function
        let separate = kind.hasSeparateDerivative
        var z = pool.take(n), u = pool.take(n), v = separate ? pool.take(n) : []
        z.withUnsafeMutableBufferPointer { zb in
            u.withUnsafeMutableBufferPointer { ub in
                v.withUnsafeMutableBufferPointer { vb in
                    x.withUnsafeBufferPointer { xb in
                        let zs = SharedBuffer(zb), us = SharedBuffer(ub), vs = SharedBuffer(vb), xs = SharedReadBuffer(xb)
                        a.withRowChunks(a.partition) { rows, p in
                            for i in rows {
                                let zi = p.dot(row: i, xs.buffer)
                                zs.buffer[i] = zi
                                let (ui, vi) = kind.valueAndDerivative(zi)
                                us.buffer[i] = ui
                                if separate { vs.buffer[i] = vi }
                            }
                        }
                    }
                }
            }
        }
        return finish(z: z, u: u, v: separate ? v : u)
    }

    /// The start-point misfit `||c|| / ||u||` at x (`StartStrategy.inverseFit`), or nil when
    /// the evaluation would not be finite (`Evaluation.isFinite`) or ||u|| is 0 or not finite.
    /// The same bits as computing it from `evaluate(x)` (same row chunks for A x, the same
    /// vector chunks and orders for alpha, ||c||^2, <b, c> and ||w o z||^2, ||u||^2 summed
    /// serially), but u' and the arrays v and c are never formed: half the transcendental work.
    func startMisfit(_ x: [Double]) -> Double? {
        let a = problem.matrix
        precondition(x.count == a.columnCount)
        let n = a.rowCount
        let kind = problem.function
        var z = pool.take(n), u = pool.take(n)
        defer { pool.recycle(z); pool.recycle(u) }
        z.withUnsafeMutableBufferPointer { zb in
            u.withUnsafeMutableBufferPointer { ub in
                x.withUnsafeBufferPointer { xb in
                    let zs = SharedBuffer(zb), us = SharedBuffer(ub), xs = SharedReadBuffer(xb)
                    a.withRowChunks(a.partition) { rows, p in
                        for i in rows {
                            let zi = p.dot(row: i, xs.buffer)
                            zs.buffer[i] = zi
                            us.buffer[i] = kind.value(zi)
                        }
                    }
                }
            }
        }
        // As in `finish`: alpha, then the chunk sums, added in chunk order.
        let part = vectorPartition
        let b = problem.target
        let w2 = problem.squaredWeights
        let localAlpha = u.withUnsafeBufferPointer { ub in
            let us = SharedReadBuffer(ub)
            return Parallelism.mapChunks(part.count) { ch in
                var s = 0.0
                for i in part.rows(ch) { s += us.buffer[i] }
                return s
            }
        }.reduce(0, +)
        let alpha = problem.communicator.sum(localAlpha)
        struct Sums: Sendable { var cc = 0.0, bc = 0.0, wz = 0.0 }
        let (uValues, zValues) = (u, z)
        let parts: [Sums] = Parallelism.mapChunks(part.count) { ch in
            let u = uValues, z = zValues
            var s = Sums()
            for i in part.rows(ch) {
                let ci = u[i] - alpha * b[i]
                s.cc += ci * ci
                s.bc += b[i] * ci
                s.wz += w2[i] * z[i] * z[i]
            }
            return s
        }
        var total = Sums()
        for s in parts { total.cc += s.cc; total.bc += s.bc; total.wz += s.wz }
        let localUU = u.reduce(0) { $0 + $1 * $1 }
        var combined = [total.cc, total.bc, total.wz, localUU]
        problem.communicator.sum(&combined)  // nothing unless distributed
        total = Sums(cc: combined[0], bc: combined[1], wz: combined[2])
        let fitLoss = 0.5 * total.cc
        guard (fitLoss + 0.5 * total.wz).isFinite, alpha.isFinite, total.bc.isFinite else { return nil }
        let uNorm = combined[3].squareRoot()
        guard uNorm.isFinite, uNorm > 0 else { return nil }
        let misfit = (2 * fitLoss).squareRoot() / uNorm
        return misfit.isFinite ? misfit : nil
    }

    /// Evaluates at the point whose `A x` is `z` (no pass over A): used for line-search
    /// trial points `z + t A s`.
    public func evaluate(z: [Double]) -> Evaluation {
        let kind = problem.function
        let part = vectorPartition
        let separate = kind.hasSeparateDerivative
        var u = pool.take(z.count), v = separate ? pool.take(z.count) : []
        u.withUnsafeMutableBufferPointer { ub in
            v.withUnsafeMutableBufferPointer { vb in
                z.withUnsafeBufferPointer { zb in
                    let us = SharedBuffer(ub), vs = SharedBuffer(vb), zs = SharedReadBuffer(zb)
                    Parallelism.forEachChunk(part.count) { ch in
                        for i in part.rows(ch) {
                            let (ui, vi) = kind.valueAndDerivative(zs.buffer[i])
                            us.buffer[i] = ui
                            if separate { vs.buffer[i] = vi }
                        }
                    }
                }
            }
        }
        return finish(z: z, u: u, v: separate ? v : u)
    }

    /// Evaluates at the line-search trial point `z + t A s` from `e` (its z) and `As`, no
    /// pass over A: `z_t = z + t (A s)`, u and v in one vector pass (the same bits as forming
    /// z_t first and calling `evaluate(z:)`).
    func evaluate(from e: Evaluation, step t: Double, along As: [Double]) -> Evaluation {
        let kind = problem.function
        let part = vectorPartition
        let n = e.z.count
        precondition(As.count == n)
        let separate = kind.hasSeparateDerivative
        var zt = pool.take(n), u = pool.take(n), v = separate ? pool.take(n) : []
        zt.withUnsafeMutableBufferPointer { tb in
            u.withUnsafeMutableBufferPointer { ub in
                v.withUnsafeMutableBufferPointer { vb in
                    e.z.withUnsafeBufferPointer { zb in
                        As.withUnsafeBufferPointer { sb in
                            let ts = SharedBuffer(tb), us = SharedBuffer(ub), vs = SharedBuffer(vb)
                            let zs = SharedReadBuffer(zb), ss = SharedReadBuffer(sb)
                            Parallelism.forEachChunk(part.count) { ch in
                                for i in part.rows(ch) {
                                    let zi = zs.buffer[i] + t * ss.buffer[i]
                                    ts.buffer[i] = zi
                                    let (ui, vi) = kind.valueAndDerivative(zi)
                                    us.buffer[i] = ui
                                    if separate { vs.buffer[i] = vi }
                                }
                            }
                        }
                    }
                }
            }
        }
        return finish(z: zt, u: u, v: separate ? v : u)
    }

    /// `A s = z(1) - z` from the z of two evaluations, into a pooled vector (one parallel vector
    /// pass, chunked like the other vector passes); nil, and nothing kept, when an entry is
    /// not finite.
    func forwardDifference(_ e1: Evaluation, _ e: Evaluation) -> [Double]? {
        let part = vectorPartition
        var out = pool.take(e.z.count)
        let finite: [Bool] = out.withUnsafeMutableBufferPointer { ob in
            e1.z.withUnsafeBufferPointer { ab in
                e.z.withUnsafeBufferPointer { bb in
                    let os = SharedBuffer(ob), a = SharedReadBuffer(ab), b = SharedReadBuffer(bb)
                    return Parallelism.mapChunks(part.count) { ch in
                        var ok = true
                        for i in part.rows(ch) {
                            let d = a.buffer[i] - b.buffer[i]
                            os.buffer[i] = d
                            if !d.isFinite { ok = false }
                        }
                        return ok
                    }
                }
            }
        }
        guard finite.allSatisfy({ $0 }) else { pool.recycle(out); return nil }
        return out
    }

    /// The vector pass: alpha, then c_i (not stored) and the reductions, chunk sums combined
    /// in order.
    private func finish(z: [Double], u: [Double], v: [Double]) -> Evaluation {
        let part = vectorPartition
        let b = problem.target
        let w2 = problem.squaredWeights
        // alpha first (c needs it).
        let alphaParts: [Double] = u.withUnsafeBufferPointer { ub in
            let us = SharedReadBuffer(ub)
            return Parallelism.mapChunks(part.count) { ch in
                var s = 0.0
                for i in part.rows(ch) { s += us.buffer[i] }
                return s
            }
        }
        let alpha = problem.communicator.sum(alphaParts.reduce(0, +))
        struct Sums: Sendable { var cc = 0.0, bc = 0.0, wz = 0.0, maxZ = 0.0, maxRow = 0 }
        let parts: [Sums] = Parallelism.mapChunks(part.count) { ch in
            var s = Sums()
            for i in part.rows(ch) {
                let ci = u[i] - alpha * b[i]
                s.cc += ci * ci
                s.bc += b[i] * ci
                let zi = z[i]
                s.wz += w2[i] * zi * zi
                // NaN-safe maximum: a NaN z (from an infinite u) counts as the largest.
                let az = Swift.abs(zi)
                if !(az <= s.maxZ) { s.maxZ = az.isNaN ? .infinity : az; s.maxRow = i }
            }
            return s
        }
        var total = Sums()
        for s in parts {
            total.cc += s.cc; total.bc += s.bc; total.wz += s.wz
            if s.maxZ > total.maxZ { total.maxZ = s.maxZ; total.maxRow = s.maxRow }
        }
        var maxRank = 0
        let comm = problem.communicator
        if comm.isDistributed {
            var sums = [total.cc, total.bc, total.wz]
            comm.sum(&sums)
            (total.cc, total.bc, total.wz) = (sums[0], sums[1], sums[2])
            (maxRank, total.maxZ) = comm.argMaximum(total.maxZ)
        }
        var e = Evaluation(z: z, u: u, v: v, target: b, alpha: alpha, bDotC: total.bc, fitLoss: 0.5 * total.cc,
                           regularizationLoss: 0.5 * total.wz, maxAbsZ: total.maxZ, maxAbsZRow: total.maxRow)
        e.maxAbsZRank = maxRank
        return e
    }

    /// The gradient weights r = v o (c - <b,c>) + w^2 o z, so that g = A^T r.
    public func gradientWeights(_ e: Evaluation) -> [Double] {
        let w2 = problem.squaredWeights
        var r = [Double](repeating: 0, count: e.z.count)
        for i in 0..<r.count { r[i] = e.v[i] * (e.cEntry(i) - e.bDotC) + w2[i] * e.z[i] }
        return r
    }

    /// The gradient only: one transpose pass.
    public func gradient(_ e: Evaluation) -> [Double] {
        problem.matrix.transposeMultiply(gradientWeights(e))
    }

    /// The gradient and the rank-2 pieces p = A^T v, q = A^T (v o b): one transpose pass, the
    /// three row weights `r_i` (`gradientWeights`), `v_i` and `v_i b_i` formed as the pass
    /// reaches row i (no n-vector is stored; the same bits as forming them first).
    public func gradientPieces(_ e: Evaluation) -> GradientPieces {
        let out = withRowTerms(e) { terms in problem.matrix.transposeMultiply(width: 3) { terms.gradientLanes($0) } }
        return GradientPieces(gradient: out[0], p: out[1], q: out[2])
    }

    /// `gradientPieces(e)` and the exact Hessian's `A^T diag(delta) A` (delta as
    /// `hessianWeights(e)`, formed row by row: no n-vector) in one sweep over A
    /// (`NormalMatrixPattern.assembleWithProducts`): the same bits as the two separately, for
    /// any thread count. `nonFiniteWeights` counts the rows whose delta is not finite.
    public func gradientPiecesAndHessian(_ e: Evaluation, pattern: NormalMatrixPattern) -> (pieces: GradientPieces, values: [Double], nonFiniteWeights: Int) {
        let out = withRowTerms(e) { terms in
            pattern.assembleWithProducts(problem.matrix, width: 3, weight: { terms.delta($0) }, entries: { terms.gradientLanes($0) })
        }
        return (GradientPieces(gradient: out.products[0], p: out.products[1], q: out.products[2]), out.values, out.nonFiniteWeights)
    }

    /// The per-row quantities of the gradient and Hessian passes, read from an evaluation's
    /// arrays as a pass reaches row i (valid inside `withRowTerms` only).
    struct RowTerms: @unchecked Sendable {
        let v: UnsafeBufferPointer<Double>, u: UnsafeBufferPointer<Double>, z: UnsafeBufferPointer<Double>
        let b: UnsafeBufferPointer<Double>, w2: UnsafeBufferPointer<Double>
        let alpha: Double, bDotC: Double

        /// `(r_i, v_i, v_i b_i, v_i b_i)`: the gradient's weight (as `gradientWeights`) and the
        /// rank-2 pieces'; the unused fourth lane repeats the third.
        @inline(__always) func gradientLanes(_ i: Int) -> SIMD4<Double> {
            let vi = v[i], bi = b[i], vbi = vi * bi
            let ci = u[i] - alpha * bi  // c_i as the vector pass forms it
            return SIMD4(vi * (ci - bDotC) + w2[i] * z[i], vi, vbi, vbi)
        }

        /// `delta_i`, as `hessianWeights` forms it.
        @inline(__always) func delta(_ i: Int) -> Double {
            let vi = v[i], ui = u[i]
            let ci = ui - alpha * b[i]
            return vi * vi + ci * ui - bDotC * ui + w2[i]
        }
    }

    /// Runs `body` with the row terms of `e`.
    private func withRowTerms<R>(_ e: Evaluation, _ body: (RowTerms) -> R) -> R {
        e.v.withUnsafeBufferPointer { vp in
            e.u.withUnsafeBufferPointer { up in
                e.z.withUnsafeBufferPointer { zp in
                    problem.target.withUnsafeBufferPointer { bp in
                        problem.squaredWeights.withUnsafeBufferPointer { wp in
                            body(RowTerms(v: vp, u: up, z: zp, b: bp, w2: wp, alpha: e.alpha, bDotC: e.bDotC))
                        }
                    }
                }
            }
        }
    }

    /// The Hessian's diagonal weights delta = v o v + c o u - <c,b> u + w o w (Lemma B.6);
    /// `H = A^T diag(delta) A + ||b||^2 p p^T - p q^T - q p^T`. Entries may be negative.
    public func hessianWeights(_ e: Evaluation) -> [Double] {
        let w2 = problem.squaredWeights
        return rowMap { i in e.v[i] * e.v[i] + e.cEntry(i) * e.u[i] - e.bDotC * e.u[i] + w2[i] }
    }

    /// The Gauss-Newton diagonal weights v o v + w o w (never negative); with the same
    /// rank-2 part they give `J^T J + A^T W^2 A`, positive semidefinite.
    public func gaussNewtonWeights(_ e: Evaluation) -> [Double] {
        let w2 = problem.squaredWeights
        return rowMap { i in e.v[i] * e.v[i] + w2[i] }
    }

    /// The diagonal the `sketch` strategy samples: `delta_i` where it is positive, else the
    /// Gauss-Newton weight `v_i^2 + w_i^2` (never negative), so `D >= 0` as Lemma 6.4 needs.
    public func sketchWeights(_ e: Evaluation) -> [Double] {
        let w2 = problem.squaredWeights
        return rowMap { i in
            let delta = e.v[i] * e.v[i] + e.cEntry(i) * e.u[i] - e.bDotC * e.u[i] + w2[i]
            return delta > 0 ? delta : e.v[i] * e.v[i] + w2[i]
        }
    }

    /// The n-vector with entries `entry(i)`, formed in parallel vector chunks (element-wise:
    /// the same bits for any thread count) into a pooled vector.
    @inline(__always)
    private func rowMap(_ entry: @Sendable (Int) -> Double) -> [Double] {
        var out = pool.take(problem.rowCount)
        let part = vectorPartition
        out.withUnsafeMutableBufferPointer { ob in
            let o = SharedBuffer(ob)
            Parallelism.forEachChunk(part.count) { ch in
                for i in part.rows(ch) { o.buffer[i] = entry(i) }
            }
        }
        return out
    }

    /// H s, two passes over A: `A^T (delta o (A s)) + p (||b||^2 <p,s> - <q,s>) - q <p,s>`.
    public func hessianVectorProduct(_ e: Evaluation, pieces: GradientPieces, delta: [Double], _ s: [Double]) -> [Double] {
        let a = problem.matrix
        let As = a.multiply(s)
        var weighted = As
        for i in 0..<weighted.count { weighted[i] *= delta[i] }
        var h = a.transposeMultiply(weighted)
        let ps = dot(pieces.p, s), qs = dot(pieces.q, s)
        let coefP = problem.targetSquaredNorm * ps - qs
        for j in 0..<h.count { h[j] += pieces.p[j] * coefP - pieces.q[j] * ps }
        return h
    }
}

/// <x, y>.
@inlinable func dot(_ x: [Double], _ y: [Double]) -> Double {
    var s = 0.0
    for i in 0..<x.count { s += x[i] * y[i] }
    return s
}

/// ||x||_2.
@inlinable func norm2(_ x: [Double]) -> Double { dot(x, x).squareRoot() }
