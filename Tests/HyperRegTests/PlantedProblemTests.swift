import Foundation
import SparseCore
import Testing
@testable import HyperReg

/// `PlantedProblem`'s column scaling (`hyperreg generate --column-scale-range`).
struct PlantedProblemTests {
    /// The largest absolute entry of each column.
    func columnMaxima(_ a: CSRMatrix) -> [Double] {
        var m = [Double](repeating: 0, count: a.columnCount)
        for k in 0..<a.nonzeroCount { m[Int(a.columnIndices[k])] = max(m[Int(a.columnIndices[k])], abs(a.values[k])) }
        return m
    }

    @Test func columnScalingSpreadsColumnsAndKeepsTheFit() throws {
        var plain = PlantedProblem.Settings(rows: 2000, columns: 10, density: 0.5)
        plain.seed = 3
        var scaled = plain
        scaled.columnScaleRange = 1e4
        let p = try PlantedProblem.generate(plain), q = try PlantedProblem.generate(scaled)
        // Same pattern and same random draws: entry k of column j is multiplied by R^(j/(d-1) - 1/2).
        #expect(p.matrix.columnIndices == q.matrix.columnIndices)
        for k in 0..<p.matrix.nonzeroCount {
            let j = Double(p.matrix.columnIndices[k])
            let factor = pow(1e4, j / 9 - 0.5)
            // Tolerance: one pow and one multiplication, a few ulps.
            #expect(abs(q.matrix.values[k] - p.matrix.values[k] * factor) <= 1e-14 * abs(p.matrix.values[k] * factor))
        }
        // Column maxima scale by the same factors, so the last over the first column grows by R.
        let m = columnMaxima(q.matrix), m0 = columnMaxima(p.matrix)
        let spread = (m[9] / m0[9]) / (m[0] / m0[0])
        #expect(abs(spread - 1e4) <= 1e-10 * 1e4)
        // A x_true and b are unchanged up to rounding (x_true divided by the same factors);
        // relative 1e-12: the products differ only by the rounding of scale and unscale.
        let z = p.matrix.multiply(p.xTrue), zq = q.matrix.multiply(q.xTrue)
        for i in 0..<z.count { #expect(abs(z[i] - zq[i]) <= 1e-12 * max(1, abs(z[i]))) }
        for i in 0..<p.target.count { #expect(abs(p.target[i] - q.target[i]) <= 1e-12 * p.target[i]) }
    }

    @Test func columnScaleRangeBelowOneIsRejected() {
        var s = PlantedProblem.Settings(rows: 10, columns: 3, density: 0.5)
        s.columnScaleRange = 0.5
        #expect(throws: ProblemError.self) { try PlantedProblem.generate(s) }
    }

    @Test func everySettingIsCheckedInOnePlace() {
        let base = PlantedProblem.Settings(rows: 10, columns: 3, density: 0.5)
        #expect(throws: Never.self) { try base.validate() }
        let cases: [(WritableKeyPath<PlantedProblem.Settings, Double>, Double, PlantedProblem.SettingsError)] = [
            (\.density, 0, .density(0)), (\.density, 1.5, .density(1.5)),
            (\.weight, -1, .weight(-1)), (\.noise, -0.1, .noise(-0.1)),
            (\.scale, 0, .scale(0)), (\.scale, -2, .scale(-2)),   // scale > 0 was checked by the CLI only
            (\.columnScaleRange, 0.5, .columnScaleRange(0.5)),
        ]
        for (field, value, expected) in cases {
            var s = base
            s[keyPath: field] = value
            #expect(throws: expected) { try s.validate() }
            // generate applies the same rules.
            #expect(throws: ProblemError(expected.description, kind: .settings(expected))) { try PlantedProblem.generate(s) }
        }
        var empty = base
        empty.rows = 0
        #expect(throws: PlantedProblem.SettingsError.size(rows: 0, columns: 3)) { try empty.validate() }
    }

    @Test func rangeOneIsTheUnscaledProblem() throws {
        let s = PlantedProblem.Settings(rows: 500, columns: 6, density: 0.5)
        var t = s
        t.columnScaleRange = 1
        #expect(try PlantedProblem.generate(s).matrix.values == PlantedProblem.generate(t).matrix.values)
    }
}
