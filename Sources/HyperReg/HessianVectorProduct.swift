// The exact Hessian applied to vectors in one pass over A (issue 14, item 1):
// `H v = A^T diag(delta) (A v) + p (||b||^2 <p,v> - <q,v>) - q <p,v>` (docs/math.md), the
// first term and `A v` from SparseCore's `weightedNormalProducts`, the rank-2 terms added here.

import SparseCore

extension Objective {
    /// `H v_m` and `A v_m` for up to four vectors per pass over A (more are done in groups of
    /// four). `delta` is `hessianWeights(e)` at the point of `pieces`.
    func fusedHessianProducts(pieces: GradientPieces, delta: [Double], _ vs: [[Double]]) -> (products: [[Double]], forward: [[Double]]) {
        var out = problem.matrix.weightedNormalProducts(weights: delta, vs)
        for m in vs.indices { addRankTwo(pieces, vs[m], to: &out.products[m]) }
        return out
    }

    /// `H v` for one vector, with `A v` written into `forward` (a re-used n-vector): one pass.
    /// The same bits as `fusedHessianProducts` with one vector.
    func fusedHessianProduct(pieces: GradientPieces, delta: [Double], _ v: [Double], forward: inout [Double]) -> [Double] {
        var product = problem.matrix.weightedNormalProduct(weights: delta, v, forward: &forward)
        addRankTwo(pieces, v, to: &product)
        return product
    }

    /// Adds the rank-2 terms `p (||b||^2 <p,v> - <q,v>) - q <p,v>` to `product`.
    private func addRankTwo(_ pieces: GradientPieces, _ v: [Double], to product: inout [Double]) {
        let pv = dot(pieces.p, v), qv = dot(pieces.q, v)
        let coefP = problem.targetSquaredNorm * pv - qv
        for j in product.indices { product[j] += pieces.p[j] * coefP - pieces.q[j] * pv }
    }
}
