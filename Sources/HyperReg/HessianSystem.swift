// Newton systems (K + U C U^T) s = r, with K = A^T diag(weights) A + shift I factored
// by CHOLMOD and the exact rank-2 part U C U^T, U = [p q], C = [[||b||^2, -1], [-1, 0]],
// added by Woodbury (docs/math.md, "Newton system"):
//
//   S = C^{-1} + U^T K^{-1} U,   C^{-1} = [[0, -1], [-1, -||b||^2]]
//   s = K^{-1} r - K^{-1} U S^{-1} U^T K^{-1} r
//
// By Haynsworth's inertia additivity, with K positive definite, K + U C U^T is positive
// definite exactly when det S < 0; that is how an indefinite Hessian is detected.

import Cholmod
import DenseLinearAlgebra
import SparseCore

/// The result of one Newton-system solve.
struct RankTwoSolve {
    /// The solution s of (K + U C U^T) s = r.
    var solution: [Double]
    /// True when K + U C U^T is positive definite (det S < 0, K factored as SPD).
    var isPositiveDefinite: Bool
}

/// Assembles and factors the d x d matrices of the Newton iteration; the symbolic
/// analysis is done once, each `factorize` is numeric only.
final class HessianSystem {
    let matrix: CSRMatrix
    let pattern: NormalMatrixPattern
    let factor: SymmetricFactor
    private(set) var assembleSeconds = 0.0
    private(set) var factorSeconds = 0.0
    private(set) var solveSeconds = 0.0
    private(set) var assemblyCount = 0
    private(set) var sampledAssemblyCount = 0
    /// Assemblies (full or sampled) done by dense row blocks (`DenseGram`, BLAS dsyrk).
    private(set) var denseBlockAssemblyCount = 0
    /// Chooses the assembly kernel (sparse scatter or dense row blocks) per assembly.
    let costModel: HessianCostModel
    /// Sum over all rows of k(k+1)/2, k the row's nonzeros.
    private let fullPairs: Double

    init(matrix: CSRMatrix, context: CholmodContext, costModel: HessianCostModel = HessianCostModel()) throws {
        self.matrix = matrix
        self.costModel = costModel
        fullPairs = HessianCostModel.rowPairs(matrix)
        pattern = try NormalMatrixPattern(matrix: matrix)
        factor = try SymmetricFactor(context: context, dimension: matrix.columnCount,
                                     columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices)
    }

    /// Assembles `A^T diag(weights) A` (one pass over A), or the sum over `rows` only (a
    /// leverage-score sample: no pass over A, only the kept rows are read), by the sparse
    /// scatter or, when `A^T A` is dense and the rows dense enough, by dense row blocks
    /// (whichever `costModel.assemblyCost` predicts cheaper).
    func assemble(weights: [Double], rows: [Int]? = nil) -> [Double] {
        let clock = ContinuousClock()
        let start = clock.now
        let rowCount = rows?.count ?? matrix.rowCount
        let pairs = rows.map { HessianCostModel.rowPairs(matrix, rows: $0) } ?? fullPairs
        let dense = costModel.assemblyCost(pairs: pairs, rows: Double(rowCount), dimension: matrix.columnCount,
                                           patternIsDense: pattern.isDense).dense
        let values = dense ? DenseGram.packedUpperGram(matrix, weights: weights, rows: rows)
            : pattern.assemble(matrix, weights: weights, rows: rows)
        if dense { denseBlockAssemblyCount += 1 }
        assembleSeconds += seconds(clock.now - start)
        if rows == nil { assemblyCount += 1 } else { sampledAssemblyCount += 1 }
        return values
    }

    /// True when a full assembly takes the sparse scatter (so that it can share its sweep
    /// with the gradient's transpose pass: `assembleWithGradient`), not dense row blocks.
    var fullAssemblyIsSparse: Bool {
        !costModel.assemblyCost(pairs: fullPairs, rows: Double(matrix.rowCount), dimension: matrix.columnCount,
                                patternIsDense: pattern.isDense).dense
    }

    /// The gradient pieces at `e` and the exact Hessian's full assembly in one sweep
    /// (`Objective.gradientPiecesAndHessian`); timed and counted as an assembly.
    func assembleWithGradient(_ objective: Objective, _ e: Evaluation) -> (pieces: GradientPieces, hessian: PreassembledHessian) {
        let clock = ContinuousClock()
        let start = clock.now
        let out = objective.gradientPiecesAndHessian(e, pattern: pattern)
        assembleSeconds += seconds(clock.now - start)
        assemblyCount += 1
        return (out.pieces, PreassembledHessian(values: out.values, nonFiniteWeights: out.nonFiniteWeights))
    }

    /// Solves K s = r on the current factor of K alone (no rank-2 part).
    func solvePlain(_ r: [Double]) throws(CholmodError) -> [Double] {
        let clock = ContinuousClock()
        let start = clock.now
        defer { solveSeconds += seconds(clock.now - start) }
        return try factor.solve(r)
    }

    /// Mean |diagonal entry| of an assembled K: the scale for damping and ridges.
    func meanDiagonal(_ values: [Double]) -> Double {
        var total = 0.0
        for k in 0..<pattern.dimension { total += Swift.abs(values[Int(pattern.columnOffsets[k + 1]) - 1]) }
        return total / Double(max(1, pattern.dimension))
    }

    /// True when every diagonal entry of an assembled K is finite.
    func diagonalIsFinite(_ values: [Double]) -> Bool {
        (0..<pattern.dimension).allSatisfy { values[Int(pattern.columnOffsets[$0 + 1]) - 1].isFinite }
    }

    /// Numeric factorisation of K + shift I.
    func factorize(values: [Double], shift: Double) throws(CholmodError) {
        let clock = ContinuousClock()
        let start = clock.now
        defer { factorSeconds += seconds(clock.now - start) }
        try factor.factorize(values: values, shift: shift)
    }

    /// Solves (K + U C U^T) s = r with U = [p q] on the current factor of K.
    func solve(_ r: [Double], p: [Double], q: [Double], targetSquaredNorm bb: Double) throws(CholmodError) -> RankTwoSolve {
        let clock = ContinuousClock()
        let start = clock.now
        defer { solveSeconds += seconds(clock.now - start) }
        let sols = try factor.solve(columns: [r, p, q])
        let kr = sols[0], kp = sols[1], kq = sols[2]
        // S = C^{-1} + U^T K^{-1} U (symmetric 2 x 2).
        let s11 = dot(p, kp)
        let s12 = -1 + 0.5 * (dot(p, kq) + dot(q, kp))
        let s22 = -bb + dot(q, kq)
        let det = s11 * s22 - s12 * s12
        let y1 = dot(p, kr), y2 = dot(q, kr)
        guard det != 0, det.isFinite else {
            return RankTwoSolve(solution: kr, isPositiveDefinite: false)
        }
        let eta1 = (s22 * y1 - s12 * y2) / det
        let eta2 = (s11 * y2 - s12 * y1) / det
        var s = kr
        for j in 0..<s.count { s[j] -= kp[j] * eta1 + kq[j] * eta2 }
        return RankTwoSolve(solution: s, isPositiveDefinite: det < 0)
    }
}

/// A `Duration` in seconds.
func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}
