// The exact Hessian applied to vectors in one pass over A (issue 14, item 1):
// `H v = A^T diag(delta) (A v) + p (||b||^2 <p,v> - <q,v>) - q <p,v>` (docs/math.md), the
// first term and `A v` from SparseCore's `weightedNormalProducts`, the rank-2 terms added here.

import SparseCore

extension Objective {
    /// `H v_m` and `A v_m` for up to four vectors per pass over A (more are done in groups of
    /// four). `delta` is `hessianWeights(e)` at the point of `pieces`.
    func fusedHessianProducts(pieces: GradientPieces, delta: [Double], _ vs: [[Double]]) -> (products: [[Double]], forward: [[Double]]) {
        var out = problem.matrix.weightedNormalProducts(weights: delta, vs)
        let bb = problem.targetSquaredNorm
        for m in vs.indices {
            let pv = dot(pieces.p, vs[m]), qv = dot(pieces.q, vs[m])
            let coefP = bb * pv - qv
            for j in out.products[m].indices { out.products[m][j] += pieces.p[j] * coefP - pieces.q[j] * pv }
        }
        return out
    }
}
