import Testing
import HyperRegTestSupport
@testable import Cholmod

// Tolerances. Every SPD test matrix comes from `UpperPattern.randomValues`: diagonally
// dominant with margin >= 1, so (Gershgorin) its eigenvalues lie in [1, 2R + 2] and its
// condition number is at most 2R + 2 (R = largest off-diagonal row sum; about 120 for the
// d = 400 half-dense case). Cholesky is backward stable: ||K x - b|| <= c d eps ||K|| ||x||,
// so the relative residual and the difference from the dense reference are bounded by
// about d * eps * cond <= 400 * 2.2e-16 * 250 ~ 2e-11 in the worst case (typical values are
// 1e-15). `tolerance = 1e-10` leaves that margin, while any real bug (a lost entry, a wrong
// shift, a wrong permutation) gives errors of 1e-3 or more.
private let tolerance = 1e-10

/// One test case: a pattern with a name, and the path CHOLMOD is expected to pick.
private struct Case: CustomStringConvertible {
    var name: String
    var pattern: UpperPattern
    var supernodal: Bool
    var description: String { name }
}

private func cases() -> [Case] {
    var rng = SplitMix64(seed: 2024)
    return [
        // Tiny and sparse: flops per entry of L far below CHOLMOD's supernodal switch (40).
        Case(name: "d=10 sparse", pattern: .random(dimension: 10, density: 0.3, using: &rng), supernodal: false),
        Case(name: "d=60 sparse", pattern: .random(dimension: 60, density: 0.05, using: &rng), supernodal: false),
        // Banded: fill stays in the band, about 5 flops per entry.
        Case(name: "d=1000 band 2", pattern: .banded(dimension: 1000, bandwidth: 2), supernodal: false),
        // Dense-ish: L is nearly dense, about d/3 flops per entry, so CHOLMOD goes supernodal.
        Case(name: "d=150 dense", pattern: .random(dimension: 150, density: 1, using: &rng), supernodal: true),
        Case(name: "d=400 half-dense", pattern: .random(dimension: 400, density: 0.5, using: &rng), supernodal: true),
    ]
}

@Suite("SymmetricFactor", .checksCholmodLeaks)
struct SymmetricFactorTests {
    @Test("SPD solves match a dense Cholesky reference; CHOLMOD picks the expected path",
          arguments: cases(), CholmodOrdering.allCases)
    fileprivate func spdSolve(_ c: Case, ordering: CholmodOrdering) throws {
        var rng = SplitMix64(seed: UInt64(c.pattern.dimension))
        let d = c.pattern.dimension
        let context = try CholmodContext()
        let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: c.pattern.columnOffsets,
                                         rowIndices: c.pattern.rowIndices, ordering: ordering)
        #expect(factor.isSupernodal == c.supernodal)
        #expect(!factor.isFactorized)
        #expect(factor.factorNonzeroCount >= c.pattern.entryCount)
        if ordering == .natural { #expect(factor.permutation == Array(0..<d)) }
        #expect(factor.permutation.sorted() == Array(0..<d))

        let values = c.pattern.randomValues(using: &rng)
        let k = c.pattern.dense(values)
        let b = randomVector(d, using: &rng)
        try factor.factorize(values: values)
        #expect(factor.isFactorized)
        let x = try factor.solve(b)
        let reference = try #require(denseCholeskySolve(k, dimension: d, [b]))[0]
        #expect(relativeResidual(k, dimension: d, x, b) < tolerance)
        #expect(relativeDifference(x, reference) < tolerance)
        let rcond = try #require(factor.reciprocalConditionEstimate)
        #expect(rcond > 0 && rcond <= 1)
    }

    @Test("refactorisation with new values and with a shift reuses the analysis", arguments: cases())
    fileprivate func refactorize(_ c: Case) throws {
        var rng = SplitMix64(seed: 77 + UInt64(c.pattern.dimension))
        let d = c.pattern.dimension
        let context = try CholmodContext()
        let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: c.pattern.columnOffsets,
                                         rowIndices: c.pattern.rowIndices)
        #expect(context.analysisCount == 1)
        let permutation = factor.permutation
        let stored = factor.factorNonzeroCount
        for (round, shift) in [0.0, 3.5, 0.0, 1e3].enumerated() {
            let values = c.pattern.randomValues(using: &rng)
            try factor.factorize(values: values, shift: shift)
            let k = c.pattern.dense(values, shift: shift)
            let b = randomVector(d, using: &rng)
            let x = try factor.solve(b)
            // The residual alone pins x down (K is well conditioned); the dense reference,
            // slow in debug builds, is compared once.
            #expect(relativeResidual(k, dimension: d, x, b) < tolerance, "round \(round), shift \(shift)")
            if round == 1 {
                let reference = try #require(denseCholeskySolve(k, dimension: d, [b]))[0]
                #expect(relativeDifference(x, reference) < tolerance, "round \(round), shift \(shift)")
            }
        }
        #expect(context.analysisCount == 1)  // no new symbolic analysis
        #expect(factor.permutation == permutation)
        #expect(factor.factorNonzeroCount == stored)
    }

    @Test("several right-hand sides in one solve agree with single solves and the reference", arguments: cases())
    fileprivate func multipleRightHandSides(_ c: Case) throws {
        var rng = SplitMix64(seed: 5 + UInt64(c.pattern.dimension))
        let d = c.pattern.dimension
        let factor = try SymmetricFactor(context: CholmodContext(), dimension: d,
                                         columnOffsets: c.pattern.columnOffsets, rowIndices: c.pattern.rowIndices)
        let values = c.pattern.randomValues(using: &rng)
        try factor.factorize(values: values, shift: 0.25)
        let k = c.pattern.dense(values, shift: 0.25)
        let bs = (0..<3).map { _ in randomVector(d, using: &rng) }
        let xs = try factor.solve(columns: bs)
        #expect(xs.count == 3)
        let references = try #require(denseCholeskySolve(k, dimension: d, bs))
        for j in 0..<3 {
            // Multi-column solves use BLAS-3 kernels, single ones BLAS-2: equal up to rounding.
            #expect(relativeDifference(xs[j], try factor.solve(bs[j])) < 1e-12)
            #expect(relativeDifference(xs[j], references[j]) < tolerance)
            #expect(relativeResidual(k, dimension: d, xs[j], bs[j]) < tolerance)
        }
        #expect(try factor.solve(columns: []).isEmpty)
    }

    @Test("an indefinite matrix throws notPositiveDefinite at the right pivot, then a shifted one succeeds",
          arguments: cases(), CholmodOrdering.allCases)
    fileprivate func indefiniteThenShifted(_ c: Case, ordering: CholmodOrdering) throws {
        var rng = SplitMix64(seed: 99 + UInt64(c.pattern.dimension))
        let d = c.pattern.dimension
        let bad = d / 3 + 1
        let factor = try SymmetricFactor(context: CholmodContext(), dimension: d, columnOffsets: c.pattern.columnOffsets,
                                         rowIndices: c.pattern.rowIndices, ordering: ordering)
        #expect(factor.isSupernodal == c.supernodal)

        // First a successful factorisation, so the failure below must also invalidate it.
        try factor.factorize(values: c.pattern.randomValues(using: &rng))
        #expect(factor.isFactorized)

        // Only column `bad` has a negative diagonal; every principal submatrix without it is
        // strictly diagonally dominant, so the first pivot to fail is exactly the one that
        // eliminates `bad`: `permutation[column] == bad` (with .natural, column == bad).
        let indefinite = c.pattern.randomValues(negativeColumn: bad, using: &rng)
        let expectedPivot = try #require(factor.permutation.firstIndex(of: bad))
        #expect(throws: CholmodError.notPositiveDefinite(column: expectedPivot)) {
            try factor.factorize(values: indefinite)
        }
        if ordering == .natural { #expect(expectedPivot == bad) }
        #expect(!factor.isFactorized)
        #expect(factor.reciprocalConditionEstimate == nil)
        #expect(throws: CholmodError.invalid("solve needs a successful factorize first")) {
            _ = try factor.solve(randomVector(d, using: &rng))
        }
        // The dense reference agrees that it is not positive definite.
        #expect(denseCholeskySolve(c.pattern.dense(indefinite), dimension: d, []) == nil)

        // Row `bad` has diagonal -1 and off-diagonal sum R_bad: a shift of R_bad + 2 makes
        // the matrix strictly diagonally dominant again, hence SPD.
        var rowSum = 0.0
        let k0 = c.pattern.dense(indefinite)
        for j in 0..<d where j != bad { rowSum += abs(k0[bad * d + j]) }
        let shift = rowSum + 2
        try factor.factorize(values: indefinite, shift: shift)
        #expect(factor.isFactorized)
        let k = c.pattern.dense(indefinite, shift: shift)
        let b = randomVector(d, using: &rng)
        let x = try factor.solve(b)
        let reference = try #require(denseCholeskySolve(k, dimension: d, [b]))[0]
        // Shifted this way the diagonal margin is >= 1 again, so the same bound applies.
        #expect(relativeResidual(k, dimension: d, x, b) < tolerance)
        #expect(relativeDifference(x, reference) < tolerance)

        // And it can fail and recover again.
        #expect(throws: CholmodError.notPositiveDefinite(column: expectedPivot)) {
            try factor.factorize(values: indefinite)
        }
        try factor.factorize(values: indefinite, shift: shift)
        #expect(relativeDifference(try factor.solve(b), reference) < tolerance)
    }

    @Test("entries missing from the pattern, including diagonal ones, are zeros and the shift still applies")
    func missingDiagonal() throws {
        var rng = SplitMix64(seed: 31)
        for d in [12, 200] {  // simplicial and supernodal
            let pattern = UpperPattern.random(dimension: d, density: d == 12 ? 0.3 : 0.9, includeDiagonal: false, using: &rng)
            let values = pattern.randomValues(using: &rng)  // off-diagonal only, in [-1, 1]
            let factor = try SymmetricFactor(context: CholmodContext(), dimension: d,
                                             columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices)
            #expect(factor.isSupernodal == (d == 200))
            // Zero diagonal: indefinite (trace 0, not all zero).
            #expect(throws: CholmodError.self) { try factor.factorize(values: values) }
            // Shift beyond the largest row sum: strictly diagonally dominant, SPD, and the
            // condition number is at most (2R + 1) / 1.
            let shift = pattern.offDiagonalRowSumBound(values) + 1
            try factor.factorize(values: values, shift: shift)
            let k = pattern.dense(values, shift: shift)
            let b = randomVector(d, using: &rng)
            let x = try factor.solve(b)
            #expect(relativeResidual(k, dimension: d, x, b) < tolerance)
            let reference = try #require(denseCholeskySolve(k, dimension: d, [b]))[0]
            #expect(relativeDifference(x, reference) < tolerance)
        }
    }

    @Test("invalid patterns are rejected before CHOLMOD sees them")
    func invalidPatterns() throws {
        let context = try CholmodContext()
        func attempt(_ d: Int, _ offsets: [Int32], _ rows: [Int32]) -> CholmodError? {
            do {
                _ = try SymmetricFactor(context: context, dimension: d, columnOffsets: offsets, rowIndices: rows)
                return nil
            } catch {
                return error
            }
        }
        // Valid 3 x 3: (0,0) (0,1) (1,1) (2,2).
        #expect(attempt(3, [0, 1, 3, 4], [0, 0, 1, 2]) == nil)
        let rejected: [(String, Int, [Int32], [Int32])] = [
            ("zero dimension", 0, [0], []),
            ("offsets too short", 3, [0, 1, 3], [0, 0, 1, 2]),
            ("offsets not starting at 0", 3, [1, 1, 3, 4], [0, 0, 1, 2]),
            ("offsets ending wrong", 3, [0, 1, 3, 5], [0, 0, 1, 2]),
            ("offsets decreasing", 3, [0, 2, 1, 4], [0, 0, 1, 2]),
            ("lower-triangle entry", 3, [0, 1, 3, 4], [0, 0, 2, 2]),
            ("negative row", 3, [0, 1, 3, 4], [0, -1, 1, 2]),
            ("unsorted rows", 3, [0, 1, 3, 4], [0, 1, 0, 2]),
            ("duplicate rows", 3, [0, 1, 3, 4], [0, 1, 1, 2]),
        ]
        for (name, d, offsets, rows) in rejected {
            let error = attempt(d, offsets, rows)
            if case .invalid = error {} else { Issue.record("\(name): expected .invalid, got \(String(describing: error))") }
        }
        #expect(context.analysisCount == 1)  // only the valid pattern reached cholmod_analyze
    }

    @Test("invalid values, shifts and right-hand sides are rejected and leave the factor unfactorized")
    func invalidNumbers() throws {
        let pattern = UpperPattern.banded(dimension: 4, bandwidth: 1)
        var rng = SplitMix64(seed: 3)
        let good = pattern.randomValues(using: &rng)
        let factor = try SymmetricFactor(context: CholmodContext(), dimension: 4,
                                         columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices)
        #expect(throws: CholmodError.invalid("solve needs a successful factorize first")) { _ = try factor.solve([1, 2, 3, 4]) }
        var withNaN = good
        withNaN[2] = .nan
        var withInfinity = good
        withInfinity[0] = .infinity
        let badCalls: [(String, () throws(CholmodError) -> Void)] = [
            ("too few values", { () throws(CholmodError) in try factor.factorize(values: Array(good.dropLast())) }),
            ("NaN value", { () throws(CholmodError) in try factor.factorize(values: withNaN) }),
            ("infinite value", { () throws(CholmodError) in try factor.factorize(values: withInfinity) }),
            ("NaN shift", { () throws(CholmodError) in try factor.factorize(values: good, shift: .nan) }),
            ("infinite shift", { () throws(CholmodError) in try factor.factorize(values: good, shift: -.infinity) }),
        ]
        for (name, call) in badCalls {
            try factor.factorize(values: good)
            #expect(factor.isFactorized)
            do {
                try call()
                Issue.record("\(name): no error")
            } catch {
                if case .invalid = error {} else { Issue.record("\(name): expected .invalid, got \(error)") }
            }
            #expect(!factor.isFactorized, "\(name)")
        }
        try factor.factorize(values: good)
        for rhs: [Double] in [[1, 2, 3], [1, 2, 3, 4, 5], [1, .nan, 3, 4], [1, 2, .infinity, 4]] {
            #expect(throws: CholmodError.self) { _ = try factor.solve(rhs) }
        }
        #expect(throws: CholmodError.self) { _ = try factor.solve(columns: [[1, 2, 3, 4], [1, 2]]) }
        #expect(factor.isFactorized)  // a rejected right-hand side does not affect the factor
    }

    @Test("overflow inside the factorisation is reported as not positive definite")
    func overflowIsReported() throws {
        // [[1e-300, 1e300], [1e300, 1e300]]: L(1,0) = 1e300 / 1e-150 overflows to inf, so the
        // pivot 1e300 - inf = -inf: reported by CHOLMOD at pivot 1, not returned as a factor.
        let small = try SymmetricFactor(context: CholmodContext(), dimension: 2, columnOffsets: [0, 1, 3],
                                        rowIndices: [0, 0, 1], ordering: .natural)
        #expect(throws: CholmodError.notPositiveDefinite(column: 1)) {
            try small.factorize(values: [1e-300, 1e300, 1e300])
        }
        #expect(!small.isFactorized)
    }
}
