// Which Hessian the Newton iteration factors (docs/solver.md, "Hessian strategies"),
// and the cost model that `auto` uses to pick one.

#if canImport(Glibc)
import Glibc
#endif
import SparseCore

/// The Hessian strategy of `NewtonSolver`.
public enum HessianStrategy: String, CaseIterable, Sendable, Codable {
    /// The exact Hessian `A^T diag(delta) A` + rank-2 part, assembled over all rows
    /// (falls back to Gauss-Newton, then damping). Quadratic convergence.
    case exact
    /// Leverage-score sampled `A^T D~ A` with `D = delta` where positive, else the
    /// Gauss-Newton weight `v o v + w o w`; the exact rank-2 part by Woodbury; globalised
    /// like `exact` (falls back to the sample without the rank-2 part, then damping).
    case sketch
    /// The paper's Algorithm 1 as printed: `D = B_diag + diag(w o w)` sampled, no rank-2
    /// part, full steps, `T = ceil(ln(1/tolerance) / ln 2.5)` iterations at most; stops with
    /// `assumption_violated` when some `D_ii <= 0` (Lemma 6.4 needs D > 0).
    case paper
    /// `exact`, `sketch` or `pcg`, whichever the cost model (`HessianCostModel`) predicts
    /// faster.
    case automatic = "auto"
    /// Newton-CG: conjugate gradients on the exact Hessian (one-pass products), preconditioned
    /// by a CHOLMOD factor of a row-sampled Hessian (`SolverOptions.pcgPreconditioner`:
    /// row-norm or leverage-score probabilities), re-used while CG needs few
    /// iterations; Eisenstat-Walker forcing, Steihaug truncation at negative curvature, Armijo;
    /// falls back to damping (`PreconditionedNewtonCG`, docs/solver.md "pcg").
    case pcg
}

/// The per-iteration cost model behind `HessianStrategy.automatic`, with constants measured
/// on the development machine (2 cores; docs/solver.md "Choosing the strategy"). Only
/// ratios matter, so the unit is "seconds on that machine".
public struct HessianCostModel: Sendable {
    /// Seconds per nonzero of one streaming pass (A x or A^T y): 0.46e-9 to 0.8e-9 measured.
    public var passPerNonzero = 0.6e-9
    /// Seconds per row-pair product `a_ij a_ik` in the sparse assembly of `A^T diag(.) A`,
    /// over all rows or a sample: 0.3e-9 (d = 200, 20 nonzeros per row, 2026-11-30: 62 ms for
    /// 2.1e8 pairs) to 0.46e-9 (d = 1000, 50 per row, 2026-11-23) measured.
    public var assemblyPerPair = 0.3e-9
    /// Passes over A per `exact` iteration besides the assembly: `A (x + s)` and the line
    /// search's vector work, and the gradient's products inside the assembly's sweep (issue 14,
    /// item 3): 1 + 0.3 + 0.7 measured at d = 200. (3 before the sweeps were fused, and still
    /// with dense row blocks, which keep the gradient's transpose pass apart.)
    public var exactPasses = 2.0
    /// Seconds per multiply-add of the dense row-block assembly (`DenseGram`, BLAS dsyrk,
    /// d(d+1)/2 per row): 2.75e-11 measured (n = 1e4, d = 2000: 0.55 s per assembly).
    public var denseGramPerMultiplyAdd = 2.75e-11
    /// Seconds per row and column of the dense row-block assembly's copying and clearing.
    public var denseBlockPerEntry = 1e-9
    /// Seconds per nonzero and embedding nonzero of the sparse embedding pass (scattering
    /// into the dense m x d sketch): 5e-9 measured at d = 1000, less when the sketch fits in
    /// cache.
    public var embeddingPerNonzero = 5e-9
    /// Seconds per nonzero and Gaussian column of the projection pass: 1.9e-10 measured.
    public var projectionPerNonzero = 1.9e-10
    /// Seconds per flop of the dense QR (dgeqrf, 2 m d^2 flops): 2.75e-11 measured.
    public var denseFlop = 2.75e-11
    /// Iterations of `sketch` per iteration of `exact` to the same tolerance: 9 against 5 at
    /// n = 1e6, d = 1000 and 11 against 5 at d = 200 (linear against quadratic convergence).
    public var iterationRatio = 1.8
    /// Fraction of sketch iterations that re-use leverage scores: 4 of 9 and 6 of 11 measured.
    public var reuseFraction = 0.45
    /// Iterations of `pcg` per iteration of `exact` to the same tolerance for exp (with the
    /// forcing `min(0.1, ||g||/||g0||)`): 3 against 2 (w = 0.01, n = 1e5 and 1e6), 4 against 2
    /// (column scales), 4 against 4 (w = 1), d = 200 (2026-11-30).
    public var pcgIterationRatio = 1.5
    /// The same for cosh and sinh, whose exact Hessian is indefinite far from the solution
    /// (exact then also assembles Gauss-Newton's, and takes more iterations, as pcg does):
    /// cosh 8 against 8 (n = 1e6), 8 against 7, 5 against 4, 9 against 8 (n = 1e5); sinh 4
    /// against 4 (w = 1 and 0.01, n = 1e5), d = 200 (2026-11-30).
    public var pcgIterationRatioHyperbolic = 1.1

    /// `pcgIterationRatio` or `pcgIterationRatioHyperbolic` for `function` (exp's when nil).
    public func pcgIterations(for function: FunctionKind?) -> Double {
        function == nil || function == .exp ? pcgIterationRatio : pcgIterationRatioHyperbolic
    }
    /// `pcg` is a candidate only while its preconditioner's sample keeps at most this share of
    /// the rows. At n = 1e5, d = 200 it keeps 42 %, and in the benchmark ladder of 2026-11-30
    /// (quiet machine, 2 threads, medians of 3) pcg was as fast as exact or faster on all six
    /// d = 200 problems (0.040 against 0.074 s, 0.057 against 0.078 s, ...); a first measurement
    /// under heavy load had suggested 1/4, which kept exact there.
    public var pcgMaximumSampleShare = 0.5
    /// Passes over A per `pcg` iteration besides its Hessian-vector products: the gradient's
    /// transpose pass (1.2-1.5 passes) and the line search's vector work (0.3-0.5).
    public var pcgPasses = 2.0
    /// Hessian-vector products per `pcg` step (CG iterations): 1 to 3 measured, 1.75 on average.
    public var pcgProducts = 2.0
    /// One one-pass Hessian-vector product, in passes: 1.4 measured at d = 200, 20 per row.
    public var productPasses = 1.5
    /// Newton steps per preconditioner factor (it is re-used while CG needs few iterations):
    /// one factor for 4-5 steps measured.
    public var stepsPerPreconditioner = 4.0

    /// The measured defaults.
    public init() {}

    /// The row pairs an assembly multiplies: the sum over `rows` (all rows when nil) of
    /// k(k+1)/2, k the row's nonzeros.
    public static func rowPairs(_ a: CSRMatrix, rows: [Int]? = nil) -> Double {
        var total = 0.0
        for item in 0..<(rows?.count ?? a.rowCount) {
            let i = rows?[item] ?? item
            let k = Double(a.rowOffsets[i + 1] - a.rowOffsets[i])
            total += k * (k + 1) / 2
        }
        return total
    }

    /// `rowPairs` over every rank's rows (collective in a distributed run; the same value on
    /// every rank, so every rank's predictions and choices agree). The cost model predicts the
    /// whole matrix's costs on one machine: in a distributed run the passes split over the
    /// ranks and the d x d work does not, so its choice is the single-machine one.
    public static func globalRowPairs(_ a: CSRMatrix) -> Double {
        a.communicator.sum(rowPairs(a))
    }

    /// Predicted seconds of one assembly of `A^T diag(.) A` over `rows` rows with `pairs` row
    /// pairs in all (sum of k(k+1)/2), by the sparse scatter and, when the pattern of `A^T A`
    /// is dense and d <= 8192, by dense row blocks (BLAS); `dense` says which is cheaper.
    public func assemblyCost(pairs: Double, rows: Double, dimension d: Int, patternIsDense: Bool) -> (seconds: Double, dense: Bool) {
        let sparse = assemblyPerPair * pairs
        // The dense kernel holds a full d x d matrix besides the packed triangle: at most
        // 512 MiB of it (d <= 8192).
        guard patternIsDense, d <= 8192 else { return (sparse, false) }
        let dd = Double(d)
        let dense = rows * (dd * (dd + 1) / 2 * denseGramPerMultiplyAdd + dd * denseBlockPerEntry)
        return dense < sparse ? (dense, true) : (sparse, false)
    }

    /// Predicted seconds per iteration of `pcg` for `matrix` (its products and passes, and its
    /// preconditioner's sampled assembly shared by `stepsPerPreconditioner` steps), and the
    /// preconditioner's expected sample size (`RowNormSampledWeights.targetRows`).
    public func predictPCG(matrix a: CSRMatrix, sampleFactor: Double) -> (seconds: Double, expectedRows: Double) {
        let n = a.globalRowCount, d = a.columnCount
        let pass = passPerNonzero * Double(a.globalNonzeroCount)
        let kept = RowNormSampledWeights.targetRows(rows: n, columns: d, factor: sampleFactor)
        let pairs = Self.globalRowPairs(a)
        let dense = pairs >= Double(d) * Double(d + 1)
        let sampled = assemblyCost(pairs: pairs * kept / Double(max(1, n)), rows: kept, dimension: d, patternIsDense: dense).seconds
        return ((pcgPasses + pcgProducts * productPasses) * pass + sampled / stepsPerPreconditioner, kept)
    }

    /// Predicted seconds per iteration of `exact` and of `sketch` for `matrix`, and the
    /// expected number of sampled rows.
    public func predict(matrix a: CSRMatrix, sketch: SketchOptions) -> (exact: Double, sketch: Double, expectedRows: Double) {
        let n = a.globalRowCount, d = a.columnCount, nnz = a.globalNonzeroCount
        let pairs = Self.globalRowPairs(a)
        // Whether A^T A is dense: assume so when the expected pairs cover the triangle twice.
        let dense = pairs >= Double(d) * Double(d + 1)
        let assembly = assemblyCost(pairs: pairs, rows: Double(n), dimension: d, patternIsDense: dense)
        // A (x + s), objective work, and the gradient: in the assembly's sweep when that is the
        // sparse scatter, a transpose pass of its own beside dense row blocks.
        let passes = (assembly.dense ? exactPasses + 1 : exactPasses) * passPerNonzero * Double(nnz)
        let exact = passes + assembly.seconds
        let beta = sketch.oversampling(dimension: d)
        let kept = min(Double(n), beta * Double(d))
        let m = LeverageSampler(matrix: a, options: sketch).embeddingRows
        let k = Double(sketch.projectionColumns(rows: n))
        let estimate = embeddingPerNonzero * Double(nnz) * Double(sketch.embeddingNonzeros)
            + projectionPerNonzero * Double(nnz) * k
            + denseFlop * 2 * Double(m) * Double(d) * Double(d)
        let sampled = assemblyCost(pairs: pairs * kept / Double(max(1, n)), rows: kept, dimension: d, patternIsDense: dense).seconds
        let sketchCost = passes + (1 - reuseFraction) * estimate + sampled
        return (exact, sketchCost, kept)
    }

    /// Picks `exact`, `sketch` or `pcg` for `matrix`, with the reason in words: the one with
    /// the smallest predicted iteration cost times its iterations per exact iteration (pcg's
    /// depend on `function`: `pcgIterations(for:)`). `sketch` is a candidate only while its
    /// sample keeps less than half the rows and its dense sketch fits in `memoryLimitBytes`,
    /// `pcg` while its sample keeps at most `pcgMaximumSampleShare`.
    public func choose(matrix a: CSRMatrix, sketch: SketchOptions, pcgSampleFactor: Double = 40,
                       memoryLimitBytes: Int = 1 << 31, function: FunctionKind? = nil) -> (HessianStrategy, String) {
        let n = Double(a.globalRowCount)
        let (exact, sketchCost, kept) = predict(matrix: a, sketch: sketch)
        let pcg = predictPCG(matrix: a, sampleFactor: pcgSampleFactor)
        let sketchBytes = LeverageSampler(matrix: a, options: sketch).sketchBytes
        var words = ["predicted per-iteration cost exact \(fmt(exact)) s"]
        var best = (strategy: HessianStrategy.exact, cost: exact)
        if sketchBytes > memoryLimitBytes {
            words.append("no sketch: its dense sketch would need \(sketchBytes >> 20) MB (d = \(a.columnCount))")
        } else if kept >= 0.5 * n {
            words.append("no sketch: its sample would keep about \(Int(kept)) of \(a.globalRowCount) rows")
        } else {
            words.append("sketch \(fmt(sketchCost)) s x \(iterationRatio) iterations")
            if iterationRatio * sketchCost < best.cost { best = (.sketch, iterationRatio * sketchCost) }
        }
        if pcg.expectedRows > pcgMaximumSampleShare * n {
            words.append("no pcg: its preconditioner's sample would keep about \(Int(pcg.expectedRows)) of \(a.globalRowCount) rows")
        } else {
            let ratio = pcgIterations(for: function)
            words.append("pcg \(fmt(pcg.seconds)) s x \(ratio) iterations")
            if ratio * pcg.seconds < best.cost { best = (.pcg, ratio * pcg.seconds) }
        }
        return (best.strategy, words.joined(separator: ", "))
    }
}
