import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

/// The least-squares starts on a row sample (issue 14, item 5; docs/solver.md "Start point"):
/// taken only for large A, exact on a consistent system, the same on any thread count, and
/// leading to the same minimiser as the fit on all rows.
@Suite("Start point on a row sample")
struct SampledStartTests {
    /// A planted problem of 80 000 rows (above `sampleMinimumRows`), d = 10.
    static func problem(_ kind: FunctionKind, noise: Double, seed: UInt64 = 5) throws -> (Problem, PlantedProblem) {
        var s = PlantedProblem.Settings(rows: 80_000, columns: 10, density: 0.3)
        s.function = kind; s.weight = 0.1; s.noise = noise; s.seed = seed
        let planted = try PlantedProblem.generate(s)
        return (try planted.problem(), planted)
    }

    /// The sample is taken for large A only, is much smaller than A, and does not depend on
    /// the thread count; below the row threshold the fit uses all rows.
    @Test func sampleTakenForLargeAOnlyAndSameOnAnyThreadCount() throws {
        let (p, _) = try Self.problem(.exp, noise: 0.01)
        let (one, _) = Parallelism.withThreadCount(1) { StartPoint.rowSample(p, seed: 1) }
        let (two, _) = Parallelism.withThreadCount(2) { StartPoint.rowSample(p, seed: 1) }
        let sample = try #require(one)
        #expect(sample.rows == two?.rows && sample.weights == two?.weights)
        // m = 10 d ln d = 230 expected rows; a Poisson-like count: within +-40 % (over 6
        // standard deviations) and never more than a few percent of A.
        #expect(Double(sample.rows.count) > 0.6 * 230 && Double(sample.rows.count) < 1.4 * 230, "\(sample.rows.count) rows")
        var small = PlantedProblem.Settings(rows: 60_000, columns: 10, density: 0.3)
        small.weight = 0.1
        #expect(StartPoint.rowSample(try PlantedProblem.generate(small).problem(), seed: 1) == nil)
    }

    /// b = softmax(A x_true) exactly: log b is in range(A) plus a constant, so the weighted fit
    /// on any full-rank sample recovers x_true; a wrong weight or intercept would not. The
    /// tolerance 1e-8 relative covers the ridge (1e-10 of the mean diagonal) and round-off of a
    /// 230-row fit with O(1) entries.
    @Test func logFitOnSampleRecoversExactFit() throws {
        let (p, planted) = try Self.problem(.exp, noise: 0)
        let x0 = try #require(try StartPoint.logFit(p))
        #expect(relativeMaxDifference(x0, planted.xTrue) < 1e-8)
    }

    /// With noise the sampled start differs from the fit on all rows, but Newton from it
    /// reaches the same minimiser (1e-9 relative: both runs stop at relative gradient 1e-12,
    /// and the Hessian is well conditioned at d = 10).
    @Test(arguments: [FunctionKind.exp, .sinh])
    func sameMinimiserAsFromTheFullFit(kind: FunctionKind) throws {
        let (p, _) = try Self.problem(kind, noise: 0.05)
        let sampled = try StartPoint.compute(for: p, strategy: .automatic).x0
        let full = try #require(kind == .exp ? try StartPoint.logFit(p, sampling: false) : try StartPoint.inverseFit(p, sampling: false))
        #expect(sampled != full)
        var o = SolverOptions(); o.tolerance = 1e-12; o.hessian = .exact
        let a = try NewtonSolver(options: o).solve(p, from: sampled)
        let b = try NewtonSolver(options: o).solve(p, from: full)
        #expect(a.termination == .converged && b.termination == .converged)
        #expect(relativeMaxDifference(a.x, b.x) < 1e-9)
    }
}

/// `auto`'s exp start keeps the log-fit only while `max |A x0|` stays below half the overflow
/// threshold; with a row sample the largest row norm bounds it without a pass
/// (`|a_i x| <= ||a_i||_2 ||x||_2`), and the pass decides only when the bound does not.
@Suite("Start point: the overflow check by the row-norm bound")
struct StartOverflowBoundTests {
    /// 70 000 rows (sampled), d = 8, entries of size 0.01 (so that a squared row norm is far
    /// below the norm: a bound forgetting the square root would pass what it must not). Rows
    /// with `marked` have column 0 set and b_i = `small`, the others b_i in [0.5, 1].
    static func problem(small: Double) throws -> Problem {
        var rng = FixtureRandom(seed: 41)
        var builder = CoordinateBuilder(rowCount: 70_000, columnCount: 8)
        var b = [Double]()
        for i in 0..<70_000 {
            let marked = i % 10 == 0
            if marked { builder.append(row: i, column: 0, value: 0.01) }
            for j in 1..<8 where rng.uniform() < 0.5 { builder.append(row: i, column: j, value: 0.01 * rng.uniform(-1, 1)) }
            b.append(marked ? small : rng.uniform(0.5, 1))
        }
        return try Problem(matrix: builder.build(), target: b, weight: 0.1, function: .exp)
    }

    /// The sample's largest squared row norm is the true one, on 1 and 2 threads.
    @Test func largestRowNormIsExact() throws {
        let p = try Self.problem(small: 0.1)
        let a = p.matrix
        var largest = 0.0
        for i in 0..<a.rowCount {
            var s = 0.0
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] { s += a.values[k] * a.values[k] }
            largest = max(largest, s)
        }
        for threads in [1, 2] {
            let (sample, _) = Parallelism.withThreadCount(threads) { StartPoint.rowSample(p, seed: 1) }
            #expect(try #require(sample).largestSquaredRowNorm == largest)
        }
    }

    /// b_i = 0.1 on the marked rows: the fit's |A x0| stays small, the bound accepts it, and
    /// x0 is the log-fit itself. b_i = 1e-300 there: the fit puts (A x0)_i near ln 1e-300 =
    /// -691 on them, beyond the limit 354.9: the start falls back to random.
    @Test func boundAcceptsOnlyWhatThePassWould() throws {
        let benign = try Self.problem(small: 0.1)
        let kept = try StartPoint.compute(for: benign, strategy: .automatic)
        #expect(kept.used == .logFit)
        let fit = try #require(try StartPoint.logFit(benign))
        #expect(kept.x0.map(\.bitPattern) == fit.map(\.bitPattern))
        #expect(benign.matrix.maxAbsProduct(fit) < FunctionKind.exp.overflowThreshold / 2)

        let hostile = try Self.problem(small: 1e-300)
        let overflowing = try #require(try StartPoint.logFit(hostile))
        try #require(hostile.matrix.maxAbsProduct(overflowing) >= FunctionKind.exp.overflowThreshold / 2,
                     "fixture: the log-fit must exceed the limit, max |A x0| = \(hostile.matrix.maxAbsProduct(overflowing))")
        #expect(try StartPoint.compute(for: hostile, strategy: .automatic).used == .random)
    }
}

@Suite("Row-sample kernels")
struct RowSampleKernelTests {
    /// `maxAbsProduct` is max |A x|, `selectingRows` copies exactly the chosen rows.
    @Test func maxAbsProductAndSelectingRows() {
        let a = randomCSR(rows: 3000, columns: 12, density: 0.3, seed: 71)
        var rng = FixtureRandom(seed: 72)
        let x = (0..<12).map { _ in rng.uniform(-1, 1) }
        #expect(a.maxAbsProduct(x) == a.multiply(x).map { abs($0) }.max())
        let rows = [5, 17, 2999, 0]
        let sub = a.selectingRows(rows)
        let dense = a.denseRowMajor(), subDense = sub.denseRowMajor()
        for (k, i) in rows.enumerated() {
            #expect(Array(subDense[k * 12 ..< (k + 1) * 12]) == Array(dense[i * 12 ..< (i + 1) * 12]))
        }
        #expect(a.maxAbsProduct(x.map { $0 * .nan }) == .infinity)
    }
}

/// `auto`'s choice with pcg among the candidates (docs/solver.md, "Choosing the strategy").
@Suite("Cost model: auto and pcg")
struct AutoChoosesPCGTests {
    /// The same n and d (200, so that the assembly is the sparse scatter): 40 nonzeros per row
    /// make the assembly (quadratic in a row's nonzeros) dearer than pcg's products, 4 per
    /// row keep exact; at 20 per row the two are
    /// close and the function decides (exp: exact, which needs fewer iterations; cosh: pcg,
    /// whose iteration count is nearly exact's there); a small n keeps exact because pcg's
    /// preconditioner sample would hold most rows (the default factor 40 gives 40 d ln d =
    /// 7 824 rows at d = 50: more than half of 10 000). The sample factor is lowered to 1 for
    /// the first ones so that 20 000 rows suffice.
    @Test func densityAndSizeDecide() {
        let model = HessianCostModel()
        let dense = randomCSR(rows: 20_000, columns: 200, density: 0.2, seed: 3)
        let sparse = randomCSR(rows: 20_000, columns: 200, density: 0.02, seed: 3)
        let (choiceDense, whyDense) = model.choose(matrix: dense, sketch: SketchOptions(), pcgSampleFactor: 1)
        let (choiceSparse, whySparse) = model.choose(matrix: sparse, sketch: SketchOptions(), pcgSampleFactor: 1)
        #expect(choiceDense == .pcg, "\(whyDense)")
        #expect(choiceSparse == .exact, "\(whySparse)")
        let middle = randomCSR(rows: 20_000, columns: 200, density: 0.1, seed: 3)
        let (forExp, whyExp) = model.choose(matrix: middle, sketch: SketchOptions(), pcgSampleFactor: 1, function: .exp)
        let (forCosh, whyCosh) = model.choose(matrix: middle, sketch: SketchOptions(), pcgSampleFactor: 1, function: .cosh)
        #expect(forExp == .exact, "\(whyExp)")
        #expect(forCosh == .pcg, "\(whyCosh)")
        let small = randomCSR(rows: 10_000, columns: 50, density: 0.4, seed: 3)
        let (choiceDefault, whyDefault) = model.choose(matrix: small, sketch: SketchOptions())
        #expect(choiceDefault == .exact && whyDefault.contains("no pcg"), "\(whyDefault)")
    }
}
