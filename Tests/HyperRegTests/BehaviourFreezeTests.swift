// Behaviour freeze (issue 13): what NewtonSolver.solve does, to the bit, on every bundled
// problem and on small generated problems chosen to exercise every branch of the minimiser
// (the three functions; hessian exact, sketch, paper, auto; Gauss-Newton, sketch-diagonal and
// damped fall-backs; backtracking; the round-off floor (converged_at_roundoff); the iteration limit;
// non_finite; stationary start; degenerate; the callback; a given reference).
//
// Fixtures/behaviour.json was recorded from the solver as it was before the minimiser was
// split into parts; a refactor must reproduce it exactly, with 1 and with 2 threads (every
// pass is bit-identical for any thread count by design, docs/architecture.md).
//
// Regenerate (only when the behaviour changes on purpose, and say why in the commit):
//
//     HYPERREG_RECORD_BEHAVIOUR=1 swift test --filter BehaviourFreezeTests
//
// which rewrites Tests/HyperRegTests/Fixtures/behaviour.json and then fails the comparison
// once, so that a recording run is never mistaken for a passing one.

import Foundation
import HyperRegTestSupport
import MatrixMarket
import SparseCore
import Testing
@testable import HyperReg

/// One run, as recorded: every Double as its bit pattern (16 hex digits).
struct FrozenRun: Codable, Equatable {
    var name: String
    var termination: String
    var message: String
    var iterations: Int
    var strategy: String
    var columns: Int
    /// FNV-1a (64 bits) over the bit patterns of x0 and of x.
    var x0Hash: String
    var xHash: String
    /// The first (up to) four entries of x, as bit patterns.
    var xHead: [String]
    var finalLoss: String
    var finalGradientNorm: String
    /// Per iteration 1...: the step model used.
    var models: [String]
    /// Per iteration 1...: the models rejected before it.
    var rejected: [[String]]
    /// Per iteration 0...: "loss|gradient norm|t|backtracks|mu|rows kept|re-used|refinements".
    var steps: [String]
    /// forward, transpose, assembly, leverage, sampledAssembly, denseBlockAssembly.
    var passes: [Int]
    var leverageEstimatesAndReuses: [Int]
    var warnings: [String]
    var nonFiniteCause: String?
    var referenceSource: String?
}

/// A solver run to freeze: the problem, the start, the options.
struct FreezeCase: Sendable, CustomTestStringConvertible {
    var name: String
    var make: @Sendable () throws -> (problem: Problem, x0: [Double], options: SolverOptions)
    var testDescription: String { name }
}

func bits(_ v: Double) -> String {
    let s = String(v.bitPattern, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

func fnv1a(_ values: [Double]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for v in values {
        var b = v.bitPattern
        for _ in 0..<8 { h ^= b & 0xff; h = h &* 0x0000_0100_0000_01b3; b >>= 8 }
    }
    return bits(Double(bitPattern: h))
}

func freeze(_ name: String, _ r: SolverResult, x0: [Double]) -> FrozenRun {
    let p = r.passes
    return FrozenRun(
        name: name, termination: r.termination.rawValue, message: r.message, iterations: r.iterations,
        strategy: r.strategy.rawValue, columns: r.x.count, x0Hash: fnv1a(x0), xHash: fnv1a(r.x),
        xHead: r.x.prefix(4).map(bits), finalLoss: bits(r.finalLoss), finalGradientNorm: bits(r.finalGradientNorm),
        models: r.trace.dropFirst().map { $0.model?.rawValue ?? "-" },
        rejected: r.trace.dropFirst().map(\.rejectedModels),
        steps: r.trace.map { t in
            [bits(t.loss), bits(t.gradientNorm), bits(t.stepLength), "\(t.backtracks)", bits(t.damping),
             t.rowsKept.map { "\($0)" } ?? "-", t.leverageReused.map { "\($0)" } ?? "-",
             t.refinements.map { "\($0)" } ?? "-"].joined(separator: "|")
        },
        passes: [p.forward, p.transpose, p.assembly, p.leverage, p.sampledAssembly, p.denseBlockAssembly],
        leverageEstimatesAndReuses: [r.leverageEstimates, r.leverageReuses],
        warnings: r.warnings, nonFiniteCause: r.nonFiniteCause.map { "\($0)" }, referenceSource: r.referenceSource)
}

enum BehaviourCases {
    static let fixtureURL = TestPaths.packageRoot.appendingPathComponent("Tests/HyperRegTests/Fixtures/behaviour.json")

    static func options(_ hessian: HessianStrategy = .automatic, _ edit: (inout SolverOptions) -> Void = { _ in }) -> SolverOptions {
        var o = SolverOptions(); o.hessian = hessian; edit(&o)
        return o
    }

    /// A bundled problem read as `hyperreg solve` reads it, with the default start.
    static func bundled(_ name: String, folder: String, weightsFile: Bool, weight: Double = 0, function: FunctionKind,
                        hessian: HessianStrategy = .automatic, tolerance: Double = 1e-10) -> FreezeCase {
        FreezeCase(name: name) {
            let dir = TestPaths.bundledDataDirectory.appendingPathComponent(folder)
            let a = try MatrixMarket.readMatrix(from: dir.appendingPathComponent("A.mtx").path).matrix
            let b = try MatrixMarket.readVector(from: dir.appendingPathComponent("b.mtx").path)
            let p = weightsFile
                ? try Problem(matrix: a, target: b, weights: try MatrixMarket.readVector(from: dir.appendingPathComponent("w.mtx").path), function: function)
                : try Problem(matrix: a, target: b, weight: weight, function: function)
            let x0 = try StartPoint.compute(for: p, strategy: .automatic, seed: 1).x0
            return (p, x0, options(hessian) { $0.tolerance = tolerance })
        }
    }

    static func planted(_ rows: Int, _ columns: Int, _ density: Double, _ function: FunctionKind, weight: Double,
                        noise: Double, seed: UInt64) throws -> PlantedProblem {
        var s = PlantedProblem.Settings(rows: rows, columns: columns, density: density)
        s.function = function; s.weight = weight; s.noise = noise; s.seed = seed
        return try PlantedProblem.generate(s)
    }

    /// A planted problem from its default start.
    static func generated(_ name: String, _ rows: Int, _ columns: Int, _ density: Double, _ function: FunctionKind,
                          weight: Double, noise: Double, seed: UInt64, start: StartStrategy = .automatic, startScale: Double = 1,
                          options: SolverOptions) -> FreezeCase {
        FreezeCase(name: name) {
            let p = try planted(rows, columns, density, function, weight: weight, noise: noise, seed: seed).problem()
            let x0 = try StartPoint.compute(for: p, strategy: start, seed: 3).x0.map { $0 * startScale }
            return (p, x0, options)
        }
    }

    /// 30 x 4, entries in [0.1, 1), exp, w = 1; `huge` at row 18, column 3 (NonFiniteTests' problem).
    static func overflowProblem(huge: Double, target: [Double]? = nil) throws -> Problem {
        var rng = SeededGenerator(seed: 5)
        var dense = (0..<120).map { _ in 0.1 + 0.9 * Double(rng.next() >> 11) / Double(1 << 53) }
        dense[17 * 4 + 2] = huge
        let a = CSRMatrix(denseRowMajor: dense, rowCount: 30, columnCount: 4)
        return try Problem(matrix: a, target: target ?? [Double](repeating: 1.0 / 30, count: 30),
                           weights: [Double](repeating: 1, count: 30), function: .exp)
    }

    static let all: [FreezeCase] = bundledCases + generatedCases + faultCases

    static let bundledCases: [FreezeCase] = [
        bundled("planted-exp-2000x50", folder: "planted-exp-2000x50", weightsFile: true, function: .exp),
        bundled("planted-cosh-2000x50", folder: "planted-cosh-2000x50", weightsFile: true, function: .cosh),
        bundled("planted-sinh-1500x30", folder: "planted-sinh-1500x30", weightsFile: true, function: .sinh),
        bundled("planted-exp-exact-1000x20", folder: "planted-exp-exact-1000x20", weightsFile: true, function: .exp),
        bundled("planted-exp-2000x50 sketch", folder: "planted-exp-2000x50", weightsFile: true, function: .exp, hessian: .sketch),
        bundled("planted-exp-2000x50 paper", folder: "planted-exp-2000x50", weightsFile: true, function: .exp, hessian: .paper),
        bundled("keys-river-l0h3 exp w=0", folder: "attention/keys-river-l0h3", weightsFile: false, function: .exp),
        bundled("keys-solver-l2h7 exp w=0", folder: "attention/keys-solver-l2h7", weightsFile: false, function: .exp),
        bundled("keys-library-l4h0 exp w=0", folder: "attention/keys-library-l4h0", weightsFile: false, function: .exp),
        bundled("keys-river-l5h10 exp w=0", folder: "attention/keys-river-l5h10", weightsFile: false, function: .exp),
        bundled("keys-river-l0h3 cosh w=0", folder: "attention/keys-river-l0h3", weightsFile: false, function: .cosh),
        bundled("keys-solver-l2h7 cosh w=0", folder: "attention/keys-solver-l2h7", weightsFile: false, function: .cosh),
        bundled("keys-library-l4h0 cosh w=0", folder: "attention/keys-library-l4h0", weightsFile: false, function: .cosh),
        bundled("keys-river-l5h10 cosh w=0", folder: "attention/keys-river-l5h10", weightsFile: false, function: .cosh),
        bundled("hidden-long-l3h5 exp", folder: "attention/hidden-long-l3h5", weightsFile: true, function: .exp, tolerance: 1e-8),
    ]

    static let generatedCases: [FreezeCase] = [
        generated("exp exact", 3000, 12, 0.3, .exp, weight: 0.5, noise: 0.1, seed: 1, options: options(.exact)),
        generated("cosh auto", 2000, 10, 0.3, .cosh, weight: 0.1, noise: 0.05, seed: 2, options: options()),
        generated("sinh exact", 1500, 8, 0.4, .sinh, weight: 0.01, noise: 0.02, seed: 3, options: options(.exact)),
        generated("exp sketch", 6000, 10, 0.3, .exp, weight: 0.01, noise: 0.05, seed: 21, options: options(.sketch)),
        generated("cosh sketch refine 1", 6000, 10, 0.3, .cosh, weight: 0.01, noise: 0.05, seed: 22,
                  options: options(.sketch) { $0.refinementSteps = 1 }),
        generated("sinh sketch", 6000, 10, 0.3, .sinh, weight: 0.01, noise: 0.05, seed: 23, options: options(.sketch)),
        generated("exp paper (theorem regime)", 6000, 10, 0.3, .exp, weight: 10, noise: 0.05, seed: 31,
                  options: options(.paper) { $0.tolerance = 1e-8 }),
        generated("exp paper, D_ii <= 0", 2000, 10, 0.3, .exp, weight: 0, noise: 0.3, seed: 5, start: .random, options: options(.paper)),
        generated("cosh w=0 near 0: Gauss-Newton", 400, 10, 0.3, .cosh, weight: 0, noise: 0, seed: 2, start: .random,
                  startScale: 0.01, options: options(.exact)),
        generated("cosh w=0 near 0: sketch fall-backs", 400, 10, 0.3, .cosh, weight: 0, noise: 0, seed: 2, start: .random,
                  startScale: 0.01, options: options(.sketch)),
        generated("exp tolerance 0: stalled (exact)", 4000, 10, 0.3, .exp, weight: 1, noise: 0.1, seed: 41,
                  options: options(.exact) { $0.tolerance = 0; $0.maxIterations = 200 }),
        generated("exp tolerance 0: stalled (sketch)", 4000, 10, 0.3, .exp, weight: 1, noise: 0.1, seed: 41,
                  options: options(.sketch) { $0.tolerance = 0; $0.maxIterations = 200 }),
        generated("exp with reference x_true", 2000, 8, 0.3, .exp, weight: 0, noise: 0, seed: 6, start: .random,
                  options: options(.exact)),
        FreezeCase(name: "exp given reference") {
            let made = try planted(2000, 8, 0.3, .exp, weight: 0, noise: 0, seed: 6)
            let p = try made.problem()
            let x0 = try StartPoint.compute(for: p, strategy: .random, seed: 3).x0
            return (p, x0, options(.exact) { $0.reference = made.xTrue })
        },
        generated("cosh stopped by callback", 2000, 10, 0.3, .cosh, weight: 0.1, noise: 0.05, seed: 2,
                  options: options(.exact) { $0.onIteration = { $0.iteration < 2 } }),
        generated("cosh maxIterations 0", 2000, 10, 0.3, .cosh, weight: 0.1, noise: 0.05, seed: 2,
                  options: options(.exact) { $0.maxIterations = 0 }),
        // pcg (added with issue 14, when auto began to choose it for large problems): the
        // preconditioner's sample and re-use, CG, negative curvature on cosh.
        generated("exp pcg", 6000, 10, 0.3, .exp, weight: 0.01, noise: 0.05, seed: 21, options: options(.pcg) { $0.pcgSampleFactor = 5 }),
        generated("cosh pcg", 6000, 10, 0.3, .cosh, weight: 0.01, noise: 0.05, seed: 22, options: options(.pcg) { $0.pcgSampleFactor = 5 }),
        generated("sinh pcg, leverage preconditioner", 6000, 10, 0.3, .sinh, weight: 0.01, noise: 0.05, seed: 23,
                  options: options(.pcg) { $0.pcgPreconditioner = .leverage }),
    ]

    static let faultCases: [FreezeCase] = [
        FreezeCase(name: "iteration limit") {
            let (p, x) = try smallProblem(.cosh, weight: 0.1)
            return (p, x.map { $0 * 3 }, options(.exact) { $0.maxIterations = 2 })
        },
        FreezeCase(name: "overflowing trial step backtracks") {
            let (p, x) = try smallProblem(.exp, n: 40, d: 3, weight: 0.3, seed: 16)
            return (p, x.map { $0 * 100 }, options())
        },
        FreezeCase(name: "no backtracking: every model refused") {
            let (p, x) = try smallProblem(.exp, n: 40, d: 3, weight: 0.3, seed: 16)
            return (p, x.map { $0 * 100 }, options(.exact) { $0.maxBacktracks = 0 })
        },
        FreezeCase(name: "empty column: damped") {
            let made = try planted(500, 8, 0.3, .exp, weight: 0.5, noise: 0.1, seed: 4)
            let a = made.matrix
            let widened = CSRMatrix(uncheckedRowCount: a.rowCount, columnCount: a.columnCount + 1, rowOffsets: a.rowOffsets,
                                    columnIndices: a.columnIndices, values: a.values)
            let p = try Problem(matrix: widened, target: made.target, weights: made.weights, function: .exp)
            return (p, [Double](repeating: 0, count: 9), options())
        },
        FreezeCase(name: "duplicate column: damped") {
            let (p, x0) = try duplicateColumnProblem()
            return (p, x0, options())
        },
        FreezeCase(name: "duplicate column: sketch damped") {
            let (p, x0) = try duplicateColumnProblem()
            return (p, x0, options(.sketch))
        },
        FreezeCase(name: "cosh zero start: stationary") {
            let (p, _) = try smallProblem(.cosh)
            return (p, [Double](repeating: 0, count: p.columnCount), options())
        },
        FreezeCase(name: "sinh zero start: stationary") {
            let (p, _) = try smallProblem(.sinh)
            return (p, [Double](repeating: 0, count: p.columnCount), options())
        },
        FreezeCase(name: "exp w=0 positive A: degenerate") {
            var rng = FixtureRandom(seed: 11)
            let dense = (0..<60).map { _ in rng.uniform(0.1, 1) }
            let a = CSRMatrix(denseRowMajor: dense, rowCount: 30, columnCount: 2)
            let b = (0..<30).map { _ in rng.uniform(0, 1) }
            return (try Problem(matrix: a, target: b, weight: 0, function: .exp), [0, 0], options())
        },
        FreezeCase(name: "non_finite: huge A entry (exact)") {
            (try overflowProblem(huge: 1e155), [0.1, 0.1, 0.1, 0.1], options(.exact))
        },
        FreezeCase(name: "non_finite: huge A entry (paper)") {
            (try overflowProblem(huge: 1e155), [0.1, 0.1, 0.1, 0.1], options(.paper))
        },
        FreezeCase(name: "non_finite: Hessian overflow (exact)") {
            (try overflowProblem(huge: 1e154, target: (0..<30).map { i in (1 + 0.5 * sin(Double(i))) / 30 }), [0, 0, 0, 0], options(.exact))
        },
        FreezeCase(name: "non_finite: Hessian overflow (sketch)") {
            (try overflowProblem(huge: 1e154, target: (0..<30).map { i in (1 + 0.5 * sin(Double(i))) / 30 }), [0, 0, 0, 0], options(.sketch))
        },
        FreezeCase(name: "non_finite: Hessian overflow (paper)") {
            (try overflowProblem(huge: 1e154, target: (0..<30).map { i in (1 + 0.5 * sin(Double(i))) / 30 }), [0, 0, 0, 0], options(.paper))
        },
        FreezeCase(name: "non_finite: huge x0 entry") {
            let (p, x) = try smallProblem(.exp)
            var x0 = x; x0[1] = 1e300
            return (p, x0, options())
        },
        FreezeCase(name: "every model refused: stalled") {
            // LoopBranchTests' underflowing slope (sinh, w = 1e10, x0 ~ 1e-175): no model gives a
            // descent step, the damping loop gives up; since issue 16 the only fixture run that
            // ends `stalled` (the round-off floor ends `converged_at_roundoff`).
            let (p0, x) = try smallProblem(.sinh, n: 40, d: 3, weight: 1, seed: 1)
            let p = try Problem(matrix: p0.matrix, target: p0.target, weights: [Double](repeating: 1e10, count: 40), function: .sinh)
            return (p, x.map { $0 * 1e-175 }, options())
        },
    ]

    static func run(_ c: FreezeCase) throws -> FrozenRun {
        let (p, x0, o) = try c.make()
        return freeze(c.name, try NewtonSolver(options: o).solve(p, from: x0), x0: x0)
    }
}

@Suite("Behaviour freeze: the minimiser's bits, models and passes as recorded", .serialized)
struct BehaviourFreezeTests {
    static var recording: Bool { ProcessInfo.processInfo.environment["HYPERREG_RECORD_BEHAVIOUR"] == "1" }

    @Test func sameBehaviourAsRecordedWithOneAndTwoThreads() throws {
        if Self.recording {
            let runs = try Parallelism.withThreadCount(1) { try BehaviourCases.all.map(BehaviourCases.run) }.result
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try FileManager.default.createDirectory(at: BehaviourCases.fixtureURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(runs).write(to: BehaviourCases.fixtureURL)
            Issue.record("recorded \(runs.count) runs to \(BehaviourCases.fixtureURL.path); run again without HYPERREG_RECORD_BEHAVIOUR to compare")
            return
        }
        let recorded = try JSONDecoder().decode([FrozenRun].self, from: Data(contentsOf: BehaviourCases.fixtureURL))
        #expect(recorded.map(\.name) == BehaviourCases.all.map(\.name), "the case list differs from the fixture's: re-record")
        let byName = Dictionary(uniqueKeysWithValues: recorded.map { ($0.name, $0) })
        for threads in [1, 2] {
            for c in BehaviourCases.all {
                guard let want = byName[c.name] else { continue }
                let (got, used) = try Parallelism.withThreadCount(threads) { try BehaviourCases.run(c) }
                #expect(used.mostThreads <= threads, "\(c.name): ran on \(used.mostThreads) threads, asked \(threads)")
                let at = "\(c.name), \(threads) thread(s)"
                #expect(got.termination == want.termination, "\(at)")
                #expect(got.message == want.message, "\(at)")
                #expect(got.iterations == want.iterations, "\(at)")
                #expect(got.strategy == want.strategy, "\(at)")
                #expect(got.x0Hash == want.x0Hash, "\(at): the start point changed (not the minimiser)")
                #expect(got.xHash == want.xHash && got.xHead == want.xHead && got.columns == want.columns, "\(at): x differs")
                #expect(got.finalLoss == want.finalLoss && got.finalGradientNorm == want.finalGradientNorm, "\(at)")
                #expect(got.models == want.models, "\(at)")
                #expect(got.rejected == want.rejected, "\(at)")
                #expect(got.steps == want.steps, "\(at)")
                #expect(got.passes == want.passes, "\(at)")
                #expect(got.leverageEstimatesAndReuses == want.leverageEstimatesAndReuses, "\(at)")
                #expect(got.warnings == want.warnings, "\(at)")
                #expect(got.nonFiniteCause == want.nonFiniteCause, "\(at)")
                #expect(got.referenceSource == want.referenceSource, "\(at)")
                #expect(got == want, "\(at)")
            }
        }
    }

    /// The fixture covers what it claims to: every termination the driver can reach on these
    /// inputs and every step model, fall-back and the damped model.
    @Test func fixtureCoversTheBranches() throws {
        let recorded = try JSONDecoder().decode([FrozenRun].self, from: Data(contentsOf: BehaviourCases.fixtureURL))
        let terminations = Set(recorded.map(\.termination))
        for t in ["converged", "converged_at_roundoff", "stalled", "iteration_limit", "non_finite", "stationary_start", "degenerate",
                  "stopped_by_callback", "assumption_violated"] {
            #expect(terminations.contains(t), "no recorded run ends \(t)")
        }
        let models = Set(recorded.flatMap(\.models))
        for m in ["exact", "gauss_newton", "damped", "sketch", "sketch_diagonal", "paper"] { #expect(models.contains(m), "no recorded step uses \(m)") }
        #expect(recorded.contains { $0.steps.contains { $0.split(separator: "|")[3] != "0" } }, "no recorded step backtracks")
        let rejections = recorded.flatMap { $0.rejected.joined() }
        for why in ["indefinite (rank-2 part)", "not positive definite", "line search found no decrease"] {
            #expect(rejections.contains { $0.contains(why) }, "no recorded rejection for \(why)")
        }
    }
}

/// An 80 x 4 exp problem whose column 4 repeats column 1 (A^T D A singular for every D, so
/// the damped fall-back carries the iteration), with its start point.
private func duplicateColumnProblem() throws -> (Problem, [Double]) {
    let (p, x) = try smallProblem(.exp, n: 80, d: 3, weight: 0.2, seed: 5)
    let a = p.matrix
    var rows: [Int] = [0], columns: [Int32] = [], values: [Double] = []
    for i in 0..<a.rowCount {
        for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] { columns.append(a.columnIndices[k]); values.append(a.values[k]) }
        for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] where a.columnIndices[k] == 0 { columns.append(3); values.append(a.values[k]) }
        rows.append(columns.count)
    }
    let m = try CSRMatrix(rowCount: a.rowCount, columnCount: 4, rowOffsets: rows, columnIndices: columns, values: values)
    return (try Problem(matrix: m, target: p.target, weights: p.weights, function: .exp), x + [0])
}
