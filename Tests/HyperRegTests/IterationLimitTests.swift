import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// `SolverOptions.maxIterations` up to `Int.max` is valid (`check()` only asks for >= 0) and
/// reaches the solver from the command line and the C ABI unchanged: the memory bound on the
/// kept iterates, d x (maxIterations + 1), must not overflow. It did, and trapped.
@Suite("Iteration limit", .checksCholmodLeaks)
struct IterationLimitTests {
    @Test(arguments: [Int.max, Int.max / 2, SolveSummary.iterateMemoryBound])
    func hugeLimitsSolveAsTheDefaultDoes(limit: Int) throws {
        var settings = PlantedProblem.Settings(rows: 200, columns: 8, density: 0.4)
        settings.weight = 0.01; settings.noise = 0.05; settings.seed = 3
        let p = try PlantedProblem.generate(settings).problem()
        let x0 = try StartPoint.compute(for: p, strategy: .automatic).x0
        var options = SolverOptions()
        options.maxIterations = limit
        let huge = try NewtonSolver(options: options).solve(p, from: x0)
        let usual = try NewtonSolver().solve(p, from: x0)
        // The limit is never reached, so the run is the default's, bit for bit; only the
        // distances to the final iterate are not recorded (the iterates are not kept).
        #expect(huge.termination == .converged)
        #expect(huge.x == usual.x)
        #expect(huge.iterations == usual.iterations)
        #expect(huge.reference == nil && usual.reference == .finalIterate)
    }
}
