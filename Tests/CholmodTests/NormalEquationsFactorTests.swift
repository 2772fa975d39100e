import Testing
import HyperRegTestSupport
@testable import Cholmod
import SparseCore

// Tolerances. Two checks per solve of M x = b, M = Aᵀ diag(s) A + shift I (formed densely
// by the test, row by row):
// * backward error ||M x - b|| / (||M||_F ||x||): Cholesky is backward stable, so this is
//   at most c d eps ~ 200 * 2.2e-16 ~ 4e-14 whatever the conditioning; `backwardTolerance`
//   = 1e-12.
// * difference from the dense Cholesky reference: forward errors are about cond(M) * d * eps.
//   The random tall matrices here (n >= 10 d, entries uniform in [-1, 1]) give cond(M)
//   below 1e3 (measured: at most a few hundred), so the bound is about 1e-10 and
//   `forwardTolerance` = 1e-8 leaves margin. A missing weight, shift or row changes the
//   answer by 1e-3 or more.
private let backwardTolerance = 1e-12
private let forwardTolerance = 1e-9

private struct Case: CustomStringConvertible {
    var name: String
    var rows: Int
    var columns: Int
    var density: Double
    var window: Int? = nil
    var supernodal: Bool
    var description: String { name }
}

private let cases = [
    // AᵀA is a dense 20 x 20: about 7 flops per entry of L, simplicial.
    Case(name: "300 x 20", rows: 300, columns: 20, density: 0.2, supernodal: false),
    // Each row of A has its entries within 6 consecutive columns: AᵀA is banded, simplicial.
    Case(name: "3000 x 300 banded", rows: 3000, columns: 300, density: 0.5, window: 6, supernodal: false),
    // AᵀA is a dense 200 x 200: about 67 flops per entry, supernodal.
    Case(name: "2000 x 200 dense-ish", rows: 2000, columns: 200, density: 0.25, supernodal: true),
]

private func backwardError(_ m: [Double], _ d: Int, _ x: [Double], _ b: [Double]) -> Double {
    let r = zip(denseMultiply(m, dimension: d, x), b).map { $0 - $1 }
    return norm(r) / (frobenius(m) * norm(x))
}

@Suite("NormalEquationsFactor", .checksCholmodLeaks)
struct NormalEquationsFactorTests {
    @Test("Aᵀ diag(s) A + shift I against a dense reference, with and without weights and shift",
          arguments: cases, CholmodOrdering.allCases)
    fileprivate func againstDense(_ c: Case, ordering: CholmodOrdering) throws {
        var rng = SplitMix64(seed: UInt64(c.rows * 7 + c.columns))
        let a = randomCSR(rows: c.rows, columns: c.columns, density: c.density, window: c.window, using: &rng)
        let d = c.columns
        let context = try CholmodContext()
        let factor = try NormalEquationsFactor(context: context, matrix: a, ordering: ordering)
        #expect(factor.dimension == d)
        #expect(factor.isSupernodal == c.supernodal)
        #expect(!factor.isFactorized)
        if ordering == .natural { #expect(factor.permutation == Array(0..<d)) }

        var weights = (0..<c.rows).map { _ in Double.random(in: 0...2, using: &rng) }
        for i in stride(from: 0, to: c.rows, by: 17) { weights[i] = 0 }  // dropped rows
        let settings: [(String, [Double]?, Double)] = [
            ("unweighted", nil, 0),
            ("unweighted, shift", nil, 0.75),
            ("weighted", weights, 0),
            ("weighted, shift", weights, 2.5),
            ("unweighted again", nil, 0),
        ]
        for (name, w, shift) in settings {
            try factor.factorize(rowWeights: w, shift: shift)
            #expect(factor.isFactorized)
            let m = denseNormalMatrix(a, weights: w, shift: shift)
            let bs = (0..<2).map { _ in randomVector(d, using: &rng) }
            let x = try factor.solve(bs[0])
            let xs = try factor.solve(columns: bs)
            let references = try #require(denseCholeskySolve(m, dimension: d, bs), "\(name)")
            #expect(backwardError(m, d, x, bs[0]) < backwardTolerance, "\(name)")
            #expect(relativeDifference(x, references[0]) < forwardTolerance, "\(name)")
            for j in 0..<2 {
                #expect(backwardError(m, d, xs[j], bs[j]) < backwardTolerance, "\(name) column \(j)")
                #expect(relativeDifference(xs[j], references[j]) < forwardTolerance, "\(name) column \(j)")
            }
        }
        #expect(context.analysisCount == 1)
    }

    @Test("all-ones weights give the unweighted factor", arguments: cases)
    fileprivate func unitWeights(_ c: Case) throws {
        var rng = SplitMix64(seed: 4)
        let a = randomCSR(rows: c.rows, columns: c.columns, density: c.density, window: c.window, using: &rng)
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a)
        let b = randomVector(c.columns, using: &rng)
        try factor.factorize(shift: 0.5)
        let x0 = try factor.solve(b)
        try factor.factorize(rowWeights: [Double](repeating: 1, count: c.rows), shift: 0.5)
        let x1 = try factor.solve(b)
        #expect(x0 == x1)  // sqrt(1) = 1 exactly: the same numbers reach CHOLMOD
    }

    @Test("rank-deficient A: shift 0 throws notPositiveDefinite at the empty column; a shift succeeds",
          arguments: cases, CholmodOrdering.allCases)
    fileprivate func rankDeficient(_ c: Case, ordering: CholmodOrdering) throws {
        var rng = SplitMix64(seed: 21 + UInt64(c.columns))
        let empty = c.columns / 2 + 1
        let a = randomCSR(rows: c.rows, columns: c.columns, density: c.density, emptyColumns: [empty], window: c.window, using: &rng)
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a, ordering: ordering)
        // Row and column `empty` of AᵀA are exactly zero, and every principal submatrix
        // without it is positive definite (A without that column has full rank), so the
        // first pivot to fail is exactly the one eliminating `empty`, with pivot exactly 0.
        let pivot = try #require(factor.permutation.firstIndex(of: empty))
        #expect(throws: CholmodError.notPositiveDefinite(column: pivot)) { try factor.factorize() }
        #expect(!factor.isFactorized)

        let shift = 1e-3
        try factor.factorize(shift: shift)
        let m = denseNormalMatrix(a, shift: shift)
        let b = randomVector(c.columns, using: &rng)
        let x = try factor.solve(b)
        #expect(backwardError(m, c.columns, x, b) < backwardTolerance)
        // The empty column's equation is decoupled: shift * x[empty] = b[empty], exactly.
        #expect(abs(x[empty] - b[empty] / shift) <= 1e-12 * abs(b[empty] / shift))
        let reference = try #require(denseCholeskySolve(m, dimension: c.columns, [b]))[0]
        // The shift is small, so M's condition number is up to ||M|| / 1e-3: the forward
        // error bound grows accordingly (backward error above is the sharp check).
        #expect(relativeDifference(x, reference) < 1e-6)

        // Zero weights on every row touching column 3 make A diag(sqrt(s)) lose column 3 too.
        var weights = [Double](repeating: 1, count: c.rows)
        for i in 0..<c.rows where (a.rowOffsets[i]..<a.rowOffsets[i + 1]).contains(where: { a.columnIndices[$0] == 3 }) {
            weights[i] = 0
        }
        let factor3 = try NormalEquationsFactor(context: CholmodContext(), matrix: a, ordering: ordering)
        try factor3.factorize(rowWeights: weights, shift: 1)
        #expect(throws: CholmodError.self) { try factor3.factorize(rowWeights: weights) }
        try factor3.factorize(rowWeights: weights, shift: 1)  // reusable after the failure
        let m3 = denseNormalMatrix(a, weights: weights, shift: 1)
        let x3 = try factor3.solve(b)
        #expect(backwardError(m3, c.columns, x3, b) < backwardTolerance)
    }

    @Test("invalid weights and shifts throw .invalid and leave the factor unfactorized")
    func invalidWeights() throws {
        var rng = SplitMix64(seed: 5)
        let a = randomCSR(rows: 50, columns: 6, density: 0.5, using: &rng)
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a)
        let ones = [Double](repeating: 1, count: 50)
        var negative = ones
        negative[7] = -1e-12
        var notANumber = ones
        notANumber[3] = .nan
        var infinite = ones
        infinite[9] = .infinity
        var large = ones
        large[0] = 1e8
        let rejected: [(String, [Double]?, Double)] = [
            ("negative weight", negative, 0),
            ("NaN weight", notANumber, 0),
            ("infinite weight", infinite, 0),
            ("too few weights", Array(ones.dropLast()), 0),
            ("too many weights", ones + [1], 0),
            ("NaN shift", nil, .nan),
            ("infinite shift", ones, .infinity),
        ]
        for (name, w, shift) in rejected {
            try factor.factorize()
            #expect(factor.isFactorized)
            do {
                try factor.factorize(rowWeights: w, shift: shift)
                Issue.record("\(name): no error")
            } catch {
                if case .invalid = error {} else { Issue.record("\(name): expected .invalid, got \(error)") }
            }
            #expect(!factor.isFactorized, "\(name)")
            #expect(throws: CholmodError.self) { _ = try factor.solve(randomVector(6, using: &rng)) }
        }
        try factor.factorize(rowWeights: large)  // large but finite weights are fine
        #expect(factor.isFactorized)
    }

    @Test("weights whose square roots overflow the scaled values are rejected")
    func overflowingWeights() throws {
        let a = CSRMatrix(denseRowMajor: [1e300, 0, 0, 1, 1, 1], rowCount: 3, columnCount: 2)
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a)
        #expect(throws: CholmodError.invalid("row 0 scaled by the square root of its weight 1e+100 overflows")) {
            try factor.factorize(rowWeights: [1e100, 1, 1])
        }
    }

    @Test("a factor with a NaN or infinite diagonal is an error, not a success")
    func nonFiniteFactorIsAnError() throws {
        // A = [[1e200, 1e200], [0, 1]]: (AᵀA)_00 = 1e400 = inf, so L(0,0) = inf and
        // L(1,0) = inf / inf = NaN. The simplicial kernel only rejects pivots <= 0, so CHOLMOD
        // reports success; the rcond check must turn it into an error.
        let a = CSRMatrix(denseRowMajor: [1e200, 1e200, 0, 1], rowCount: 2, columnCount: 2)
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a, ordering: .natural)
        #expect(!factor.isSupernodal)
        do {
            try factor.factorize()
            Issue.record("no error; solve gives \(String(describing: try? factor.solve([1, 1])))")
        } catch {
            if case .other(status: 0, _) = error {} else { Issue.record("expected .other(status: 0, ...), got \(error)") }
        }
        #expect(!factor.isFactorized)
        #expect(factor.reciprocalConditionEstimate == nil)

        // The supernodal path (LAPACK dpotrf on blocks that overflowed) must not succeed either.
        var rng = SplitMix64(seed: 6)
        let big = randomCSR(rows: 2000, columns: 200, density: 0.25, using: &rng)
        let scaled = big.withValues(big.values.map { $0 * 1e200 })
        let dense = try NormalEquationsFactor(context: CholmodContext(), matrix: scaled)
        #expect(dense.isSupernodal)
        #expect(throws: CholmodError.self) { try dense.factorize() }
        #expect(!dense.isFactorized)
    }

    @Test("malformed matrices are rejected before CHOLMOD sees them")
    func malformedMatrices() throws {
        let context = try CholmodContext()
        func attempt(_ a: CSRMatrix) -> CholmodError? {
            do {
                _ = try NormalEquationsFactor(context: context, matrix: a)
                return nil
            } catch {
                return error
            }
        }
        func unchecked(_ n: Int, _ d: Int, _ offsets: [Int], _ indices: [Int32], _ values: [Double]) -> CSRMatrix {
            CSRMatrix(uncheckedRowCount: n, columnCount: d, rowOffsets: offsets, columnIndices: indices, values: values)
        }
        #expect(attempt(unchecked(2, 2, [0, 1, 2], [0, 1], [1, 1])) == nil)
        let invalid: [(String, CSRMatrix)] = [
            ("no columns", unchecked(2, 0, [0, 0, 0], [], [])),
            ("offsets count", unchecked(2, 2, [0, 2], [0, 1], [1, 1])),
            ("offsets start", unchecked(2, 2, [1, 1, 2], [0, 1], [1, 1])),
            ("offsets end", unchecked(2, 2, [0, 1, 1], [0, 1], [1, 1])),
            ("offsets decrease", unchecked(3, 2, [0, 2, 1, 2], [0, 1], [1, 1])),
            ("column out of range", unchecked(2, 2, [0, 1, 2], [0, 2], [1, 1])),
            ("negative column", unchecked(2, 2, [0, 1, 2], [0, -1], [1, 1])),
            ("unsorted row", unchecked(1, 2, [0, 2], [1, 0], [1, 1])),
            ("values count", unchecked(2, 2, [0, 1, 2], [0, 1], [1])),
            ("NaN value", unchecked(2, 2, [0, 1, 2], [0, 1], [1, .nan])),
            ("infinite value", unchecked(2, 2, [0, 1, 2], [0, 1], [.infinity, 1])),
        ]
        for (name, a) in invalid {
            let error = attempt(a)
            if case .invalid = error {} else { Issue.record("\(name): expected .invalid, got \(String(describing: error))") }
        }
        // More entries than the Int32 interface can address (only the offsets are faked).
        #expect(attempt(unchecked(1, 2, [0, Int(Int32.max) + 1], [], [])) == .tooLarge)
        #expect(context.analysisCount == 1)
    }

    @Test("A with no rows: the factor of shift * I")
    func noRows() throws {
        let a = CSRMatrix(uncheckedRowCount: 0, columnCount: 3, rowOffsets: [0], columnIndices: [], values: [])
        let factor = try NormalEquationsFactor(context: CholmodContext(), matrix: a)
        #expect(throws: CholmodError.notPositiveDefinite(column: 0)) { try factor.factorize() }
        try factor.factorize(rowWeights: [], shift: 4)
        #expect(try factor.solve([4, 8, -2]) == [1, 2, -0.5])
    }
}
