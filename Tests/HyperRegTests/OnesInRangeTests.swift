import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("exp with w = 0 and the all-ones vector in range(A)")
struct OnesInRangeTests {
    /// A planted exp problem with w = 0; with `interceptColumn` the last column of A is all
    /// ones, so 1 is in range(A) and L(x + t e_d) = e^{2t} L(x): no unique minimiser.
    private func problem(interceptColumn: Bool) throws -> Problem {
        var s = PlantedProblem.Settings(rows: 400, columns: 6, density: 0.5)
        s.function = .exp; s.weight = 0; s.noise = 0.1; s.seed = 8
        let planted = try PlantedProblem.generate(s)
        var a = planted.matrix
        if interceptColumn {
            var builder = CoordinateBuilder(rowCount: a.rowCount, columnCount: a.columnCount + 1)
            for i in 0..<a.rowCount {
                for e in a.rowOffsets[i]..<a.rowOffsets[i + 1] { builder.append(row: i, column: Int(a.columnIndices[e]), value: a.values[e]) }
                builder.append(row: i, column: a.columnCount, value: 1)
            }
            a = builder.build()
        }
        return try Problem(matrix: a, target: planted.target, weight: 0, function: .exp)
    }

    @Test func warnsWhenOnesAreInRange() throws {
        let p = try problem(interceptColumn: true)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: p.columnCount))
        #expect(r.warnings.contains { $0.contains("all-ones vector (nearly) in range(A)") }, "\(r.termination): \(r.warnings)")
        #expect(try #require(onesResidual(p.matrix)) < 1e-10)
    }

    @Test func silentWhenOnesAreNotInRange() throws {
        let p = try problem(interceptColumn: false)
        let r = try NewtonSolver().solve(p, from: [Double](repeating: 0, count: p.columnCount))
        #expect(!r.warnings.contains { $0.contains("all-ones vector") })
        // 400 rows, 6 random sparse columns: 1 is far from range(A).
        #expect(try #require(onesResidual(p.matrix)) > 0.1)
    }
}
