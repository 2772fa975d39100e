// HessianSystem.solve (Woodbury for the rank-2 part, docs/math.md "Newton system") against a
// dense solve of the same H = K + ||b||^2 p p^T - p q^T - q p^T, with K = A^T diag(w) A
// assembled densely (Dense.weightedGram, not the sparse assembly) and H solved by LAPACK's
// eigendecomposition (Dense.symmetricSolve), whose eigenvalues also say whether H is
// positive definite. The documented outcomes (HessianSystem.swift):
//   * K positive definite and det S < 0  <=>  H positive definite: `isPositiveDefinite`;
//   * det S > 0: H indefinite; the Woodbury solution still solves H s = r, flagged false;
//   * det S = 0 (H singular): the solution is K^{-1} r alone, flagged false.

import DenseLinearAlgebra
import Cholmod
import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("HessianSystem: Woodbury rank-2 solve against a dense solve", .checksCholmodLeaks)
struct HessianSystemTests {
    /// A factored system for `a` and `weights`, and the dense K.
    func factored(_ a: CSRMatrix, weights: [Double]) throws -> (HessianSystem, [Double]) {
        let system = try HessianSystem(matrix: a, context: CholmodContext())
        try system.factorize(values: system.assemble(weights: weights), shift: 0)
        let k = Dense.weightedGram(a.denseRowMajor(), rows: a.rowCount, columns: a.columnCount, weights: weights)
        return (system, k)
    }

    /// H = K + bb p p^T - p q^T - q p^T, dense row-major.
    func denseH(_ k: [Double], p: [Double], q: [Double], bb: Double) -> [Double] {
        let d = p.count
        var h = k
        for i in 0..<d { for j in 0..<d { h[i * d + j] += bb * p[i] * p[j] - p[i] * q[j] - q[i] * p[j] } }
        return h
    }

    func residual(_ h: [Double], _ s: [Double], _ r: [Double]) -> Double {
        let hs = Dense.multiply(h, rows: r.count, columns: r.count, s)
        return norm2(zip(hs, r).map { $0 - $1 }) / norm2(r)
    }

    @Test func positiveDefiniteRankTwoSystemMatchesTheDenseSolve() throws {
        let a = randomCSR(rows: 40, columns: 6, density: 0.5, seed: 3)
        var rng = FixtureRandom(seed: 4)
        let weights = (0..<40).map { _ in rng.uniform(0.5, 1.5) }
        let (system, k) = try factored(a, weights: weights)
        let p = (0..<6).map { _ in rng.uniform(-0.3, 0.3) }, q = (0..<6).map { _ in rng.uniform(-0.1, 0.1) }
        let r = (0..<6).map { _ in rng.uniform(-1, 1) }
        let bb = 2.0
        let dense = try #require(Dense.symmetricSolve(denseH(k, p: p, q: q, bb: bb), r))
        try #require(dense.eigenvalues[0] > 1e-3, "fixture: H should be clearly positive definite")
        let sol = try system.solve(r, p: p, q: q, targetSquaredNorm: bb)
        #expect(sol.isPositiveDefinite)
        // H is well conditioned here (eigenvalues logged on failure): 1e-10 relative is ~1e5 ulps.
        #expect(relativeMaxDifference(sol.solution, dense.solution) < 1e-10, "eigenvalues \(dense.eigenvalues)")
    }

    @Test func indefiniteRankTwoSystemIsFlaggedAndStillSolved() throws {
        // K positive definite, but -p q^T - q p^T with large q pushes an eigenvalue of H below 0:
        // det S > 0, so the solve must say "not positive definite" (the solver then rejects
        // the model: "exact: indefinite (rank-2 part)").
        let a = randomCSR(rows: 40, columns: 6, density: 0.5, seed: 5)
        var rng = FixtureRandom(seed: 6)
        let weights = (0..<40).map { _ in rng.uniform(0.5, 1.5) }
        let (system, k) = try factored(a, weights: weights)
        let p = (0..<6).map { _ in rng.uniform(-1, 1) }, q = (0..<6).map { _ in rng.uniform(-5, 5) }
        let r = (0..<6).map { _ in rng.uniform(-1, 1) }
        let bb = 0.01
        let h = denseH(k, p: p, q: q, bb: bb)
        let dense = try #require(Dense.symmetricSolve(h, r))
        try #require(dense.eigenvalues[0] < -1e-3, "fixture: H should be clearly indefinite, eigenvalues \(dense.eigenvalues)")
        try #require(try DenseSymmetricEigen.eigenvalues(k, dimension: 6)[0] > 0, "fixture: K must be positive definite")
        let sol = try system.solve(r, p: p, q: q, targetSquaredNorm: bb)
        #expect(!sol.isPositiveDefinite)
        // Woodbury holds for any nonsingular H: the solution is still H^{-1} r.
        let condition = dense.eigenvalues.map(abs).max()! / dense.eigenvalues.map(abs).min()!
        #expect(relativeMaxDifference(sol.solution, dense.solution) < 1e-13 * max(condition, 100), "condition \(condition)")
        #expect(residual(h, sol.solution, r) < 1e-12)
    }

    @Test func singularRankTwoSystemReturnsTheSolutionOfKAlone() throws {
        // K = I exactly (A = I, w = 1), p = e1, q = e2, ||b||^2 = 0: S = [[1, -1], [-1, 1]],
        // det S = 0 in exact arithmetic and in Double; H = I - e1 e2^T - e2 e1^T is singular.
        var builder = CoordinateBuilder(rowCount: 4, columnCount: 4)
        for i in 0..<4 { builder.append(row: i, column: i, value: 1) }
        let a = builder.build()
        let (system, k) = try factored(a, weights: [1, 1, 1, 1])
        let p = [1.0, 0, 0, 0], q = [0.0, 1, 0, 0], r = [0.5, -0.25, 2, 3]
        let eigenvalues = try DenseSymmetricEigen.eigenvalues(denseH(k, p: p, q: q, bb: 0), dimension: 4)
        try #require(abs(eigenvalues[0]) < 1e-15, "fixture: H should be singular, eigenvalues \(eigenvalues)")
        let sol = try system.solve(r, p: p, q: q, targetSquaredNorm: 0)
        #expect(!sol.isPositiveDefinite)
        #expect(sol.solution == r)   // K^{-1} r with K = I: no division by det S = 0, no NaN
    }

    @Test func positiveDefinitenessFlagAgreesWithDenseEigenvalues() throws {
        // Haynsworth: with K positive definite, H is positive definite exactly when det S < 0.
        // 60 random (p, q, ||b||^2) of both kinds; draws with |lambda_min| below 1e-8 are skipped.
        let a = randomCSR(rows: 30, columns: 5, density: 0.6, seed: 7)
        var rng = FixtureRandom(seed: 8)
        let weights = (0..<30).map { _ in rng.uniform(0.2, 2) }
        let (system, k) = try factored(a, weights: weights)
        var seen = (definite: 0, indefinite: 0)
        for trial in 0..<60 {
            let scale = [0.3, 3, 10][trial % 3]
            let p = (0..<5).map { _ in rng.uniform(-1, 1) }, q = (0..<5).map { _ in rng.uniform(-scale, scale) }
            let r = (0..<5).map { _ in rng.uniform(-1, 1) }
            let bb = rng.uniform(0, 1)
            let h = denseH(k, p: p, q: q, bb: bb)
            let dense = try #require(Dense.symmetricSolve(h, r))
            guard abs(dense.eigenvalues[0]) > 1e-8 else { continue }
            let sol = try system.solve(r, p: p, q: q, targetSquaredNorm: bb)
            #expect(sol.isPositiveDefinite == (dense.eigenvalues[0] > 0), "trial \(trial): eigenvalues \(dense.eigenvalues)")
            #expect(residual(h, sol.solution, r) < 1e-9, "trial \(trial)")
            if dense.eigenvalues[0] > 0 { seen.definite += 1 } else { seen.indefinite += 1 }
        }
        #expect(seen.definite >= 10 && seen.indefinite >= 10, "fixture: both kinds must occur, got \(seen)")
    }
}
