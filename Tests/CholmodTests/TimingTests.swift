import Foundation
import Testing
import Cholmod
import SparseCore

/// Wall-clock timings of analysis, factorisation and solve; printed, not asserted. Off by
/// default; run with `CHOLMOD_TIMINGS=1 swift test -c release -Xswiftc -enable-testing
/// --filter CholmodTests.TimingTests` (debug builds time the test's own fixtures too).
@Suite("Cholmod timings", .enabled(if: ProcessInfo.processInfo.environment["CHOLMOD_TIMINGS"] != nil), .serialized)
struct TimingTests {
    private func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        return (Double(c.seconds) + Double(c.attoseconds) * 1e-18) * 1e3
    }

    /// Best of `repeats` runs of `body`, in ms.
    private func best(_ repeats: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        var result = Double.infinity
        for _ in 0..<repeats {
            let start = clock.now
            try body()
            result = min(result, milliseconds(clock.now - start))
        }
        return result
    }

    private func format(_ x: Double) -> String { String(format: "%8.2f", x) }

    @Test func symmetric() throws {
        var rng = SplitMix64(seed: 1)
        let context = try CholmodContext()
        print("SymmetricFactor (ms, best of 5): case, ordering, path, nnz(L), analyze, factorize, solve")
        let patterns: [(String, UpperPattern)] = [
            ("dense d=200", .random(dimension: 200, density: 1, using: &rng)),
            ("dense d=1000", .random(dimension: 1000, density: 1, using: &rng)),
            ("band 5, d=100000", .banded(dimension: 100_000, bandwidth: 5)),
            ("random 0.1%, d=5000", .random(dimension: 5000, density: 0.001, using: &rng)),
        ]
        for (name, pattern) in patterns {
            let values = pattern.randomValues(using: &rng)
            let b = randomVector(pattern.dimension, using: &rng)
            for ordering in CholmodOrdering.allCases {
                var factor: SymmetricFactor?
                let analyze = try best(3) {
                    factor = try SymmetricFactor(context: context, dimension: pattern.dimension,
                                                 columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices,
                                                 ordering: ordering)
                }
                guard let factor else { return }
                let factorize = try best { try factor.factorize(values: values, shift: 0.1) }
                let solve = try best { _ = try factor.solve(b) }
                print("  \(name), \(ordering), \(factor.isSupernodal ? "supernodal" : "simplicial"), \(factor.factorNonzeroCount),",
                      format(analyze), format(factorize), format(solve))
            }
        }
    }

    @Test func normalEquations() throws {
        var rng = SplitMix64(seed: 2)
        let context = try CholmodContext()
        print("NormalEquationsFactor (ms, best of 5): case, path, analyze, factorize, weighted factorize, solve")
        let matrices: [(String, CSRMatrix)] = [
            ("100000 x 200, 10/row", randomCSR(rows: 100_000, columns: 200, density: 0.05, using: &rng)),
            ("20000 x 1000, 20/row", randomCSR(rows: 20_000, columns: 1000, density: 0.02, using: &rng)),
            ("200000 x 5000, banded rows", randomCSR(rows: 200_000, columns: 5000, density: 0.5, window: 10, using: &rng)),
        ]
        for (name, a) in matrices {
            var factor: NormalEquationsFactor?
            let analyze = try best(3) { factor = try NormalEquationsFactor(context: context, matrix: a) }
            guard let factor else { return }
            let weights = (0..<a.rowCount).map { _ in Double.random(in: 0...2, using: &rng) }
            let plain = try best { try factor.factorize(shift: 1e-6) }
            let weighted = try best { try factor.factorize(rowWeights: weights, shift: 1e-6) }
            let b = randomVector(a.columnCount, using: &rng)
            let solve = try best { _ = try factor.solve(b) }
            print("  \(name), \(factor.isSupernodal ? "supernodal" : "simplicial"),",
                  format(analyze), format(plain), format(weighted), format(solve))
        }
    }
}
