#if canImport(Glibc)
import Glibc
#endif
import Cholmod
import SparseCore

/// How the solver's start point x0 is chosen when none is given.
///
/// The default (`automatic`) is measured, see docs/solver.md "Start point":
/// * exp: `logFit` when every b_i > 0, else `random`;
/// * sinh: `inverseFit` when every b_i >= 0 (a random start slides into the trivial
///   minimiser x = 0, measured), else `random`;
/// * cosh: `random` (x = 0 is stationary for cosh; cosh^{-1} has no sign to fit).
public enum StartStrategy: String, CaseIterable, Sendable, Codable {
    /// The documented default per function (above).
    case automatic = "auto"
    /// Least squares with an intercept, `min ||A x + c 1 - log b||_2` (needs b > 0), solved
    /// through CHOLMOD on A^T A (A handed over without copying) plus a Sherman-Morrison
    /// correction for the intercept: then exp(A x0) is proportional to b whenever log b lies
    /// in range(A) plus a constant.
    case logFit = "log-fit"
    /// sinh only: least squares `min ||A x - asinh(k b)||_2`, with the unknown scale k (any k
    /// makes c vanish on an exact fit) taken from the grid k0 * 2^j, j = -4...4, by the
    /// smallest relative misfit ||c|| / ||u|| (scale-free: the loss itself always prefers the
    /// smallest x, since L(0) = 0 for sinh); k0 makes the rms of asinh(k0 b) equal 0.5.
    case inverseFit = "inverse-fit"
    /// A seeded Gaussian direction scaled so that the root-mean-square of A x0 is 0.5.
    case random
    /// x0 = 0 (a stationary point for cosh and sinh: the solver will say so).
    case zero
}

/// Computes start points.
public enum StartPoint {
    /// The start point for `problem` by `strategy`; `seed` drives `random`.
    /// Returns x0 and the strategy actually used (automatic and impossible log-fits resolve
    /// to a concrete one).
    ///
    /// - Throws: `SolverError.nonFinite` naming the entry of A when `A^T A` overflows
    ///   (log-fit, inverse-fit, and the automatic choice that tries them), and
    ///   `SolverError.invalidProblem` or `.factorization` as documented per strategy.
    public static func compute(for problem: Problem, strategy: StartStrategy, seed: UInt64 = 1) throws(SolverError) -> (x0: [Double], used: StartStrategy) {
        switch strategy {
        case .zero:
            return ([Double](repeating: 0, count: problem.columnCount), .zero)
        case .random:
            return (random(problem, seed: seed), .random)
        case .inverseFit:
            guard problem.function == .sinh, let x = try inverseFit(problem, seed: seed) else {
                throw .invalidProblem("the inverse-fit start is for sinh with every b_i >= 0")
            }
            return (x, .inverseFit)
        case .logFit:
            guard let x = try logFit(problem, seed: seed) else {
                throw .invalidProblem("the log-fit start needs every b_i > 0; b has entries <= 0")
            }
            return (x, .logFit)
        case .automatic:
            if problem.function == .exp, let (x, rowNorm) = try sampledLogFit(problem, seed: seed) {
                // Keep it only if u(A x0) stays well inside Double range: by the bound
                // |a_i x| <= ||a_i||_2 ||x||_2 when the row sample found the largest row norm
                // (no pass; the margin covers the rounding of a computed dot product), else
                // by one pass (no z stored).
                let limit = problem.function.overflowThreshold / 2
                if let r = rowNorm, r * norm2(x) * (1 + 1e-8) < limit { return (x, .logFit) }
                if problem.matrix.maxAbsProduct(x) < limit { return (x, .logFit) }
            }
            if problem.function == .sinh, let x = try inverseFit(problem, seed: seed) { return (x, .inverseFit) }
            return (random(problem, seed: seed), .random)
        }
    }

    /// The strategy `compute` tries first for `strategy` (for progress messages before the
    /// work): `automatic` resolved by the rule of `StartStrategy`; `compute` may still fall
    /// back to `random` (an overflowing log-fit) and returns the one used.
    public static func planned(for problem: Problem, strategy: StartStrategy) -> StartStrategy {
        guard strategy == .automatic else { return strategy }
        switch problem.function {
        case .exp: return allPositive(problem) ? .logFit : .random
        case .sinh: return nonNegativeAndNotZero(problem) ? .inverseFit : .random
        case .cosh: return .random
        }
    }

    /// Every b_i > 0 (over every rank: collective in a distributed run).
    static func allPositive(_ problem: Problem) -> Bool {
        problem.communicator.all(problem.target.allSatisfy { $0 > 0 })
    }

    /// Every b_i >= 0 and some b_i > 0 (over every rank: collective in a distributed run).
    static func nonNegativeAndNotZero(_ problem: Problem) -> Bool {
        let comm = problem.communicator, b = problem.target
        return comm.all(b.allSatisfy { $0 >= 0 }) && !comm.all(!b.contains { $0 > 0 })
    }

    /// Least-squares starts fit a row sample instead of all rows when the sample is at most
    /// this share of the rows (above it, sampling saves little and the fit on all rows is kept)
    /// ...
    static let sampleShare = 0.25
    /// ... and A has at least this many rows (below it the fit on all rows costs about a
    /// millisecond, and small problems keep the deterministic fit of all their rows).
    static let sampleMinimumRows = 1 << 16
    /// The sample's expected size, `m = sampleFactor * d * ln d` rows (docs/solver.md, "Start
    /// point": measured against the fit on all rows).
    static let sampleFactor = 10.0

    /// The row sample of a least-squares start (`CSRMatrix.rowNormSample`, probabilities
    /// proportional to `||a_i||^2`, weights `1 / p_i`), or nil when the fit uses all rows: the
    /// sample would be more than `sampleShare` of them, it has fewer than d rows, or A's
    /// squared Frobenius norm is 0 or overflows (the fit on all rows then says which entry).
    static func rowSample(_ problem: Problem, seed: UInt64) -> (rows: [Int], weights: [Double], largestSquaredRowNorm: Double)? {
        let n = problem.globalRowCount, d = problem.columnCount
        let m = sampleFactor * Double(d) * max(1, Glibc.log(Double(max(d, 1))))
        guard n >= sampleMinimumRows, m <= sampleShare * Double(n),
              let sample = problem.matrix.rowNormSample(targetRows: m, seed: seed ^ 0x5A3_F17),
              problem.communicator.sum(sample.rows.count) >= d else { return nil }
        return sample
    }

    /// The sinh start (see `StartStrategy.inverseFit`), or nil when some b_i < 0.
    /// `sampling: false` fits all rows whatever the size.
    static func inverseFit(_ problem: Problem, seed: UInt64 = 1, sampling: Bool = true) throws(SolverError) -> [Double]? {
        let b = problem.target
        guard nonNegativeAndNotZero(problem) else { return nil }
        let a = problem.matrix
        let rms = (problem.communicator.sum(b.reduce(0) { $0 + $1 * $1 }) / Double(problem.globalRowCount)).squareRoot()
        // asinh(t) ~ t for small t: k0 * rms(b) = 0.5 is a first guess of the scale.
        let k0 = 0.5 / rms
        if sampling, let sample = rowSample(problem, seed: seed) {
            return try sampledInverseFit(problem, (sample.rows, sample.weights), scales: (-4...4).map { k0 * Glibc.pow(2, Double($0)) })
        }
        do {
            let solver = try LeastSquares(matrix: a, during: "inverse-fit start")
            let objective = Objective(problem: problem)
            // The nine targets' A^T y in groups of four, one block pass each (the block
            // kernel's lanes add in the single-vector order: the same bits; at most four
            // n-vectors held), each target's asinh in parallel chunks.
            let scales = (-4...4).map { k0 * Glibc.pow(2, Double($0)) }
            let part = RowPartition(rowCount: b.count, maxChunks: 64, minimumRows: 1 << 14)
            let projected = stride(from: 0, to: scales.count, by: 4).flatMap { g in
                a.transposeMultiply(scales[g..<min(g + 4, scales.count)].map { k in
                    var y = [Double](repeating: 0, count: b.count)
                    y.withUnsafeMutableBufferPointer { yb in
                        let ys = SharedBuffer(yb)
                        Parallelism.forEachChunk(part.count) { ch in
                            for i in part.rows(ch) { ys.buffer[i] = Glibc.asinh(k * b[i]) }
                        }
                    }
                    return y
                })
            }
            var best: (loss: Double, x: [Double])? = nil
            for aty in projected {
                let x = try solver.solve(normalRightHandSide: aty)
                // nil also for a NaN misfit, which would never be replaced.
                guard let misfit = objective.startMisfit(x) else { continue }
                if best == nil || misfit < best!.loss { best = (misfit, x) }
            }
            return best?.x
        } catch {
            throw .wrapping(error, during: "inverse-fit start")
        }
    }

    /// The inverse-fit on a row sample: the nine fits weighted by the sample's `1 / p_i`, each
    /// misfit `||c|| / ||u||` estimated on the sample with the same weights (alpha too); no
    /// pass over A.
    static func sampledInverseFit(_ problem: Problem, _ sample: (rows: [Int], weights: [Double]), scales: [Double]) throws(SolverError) -> [Double]? {
        let sub = problem.matrix.selectingRows(sample.rows)
        let w = sample.weights
        let bS = sample.rows.map { problem.target[$0] }
        do {
            let solver = try LeastSquares(matrix: sub, rowWeights: w, naming: problem.matrix, during: "inverse-fit start")
            var best: (misfit: Double, x: [Double])? = nil
            for k in scales {
                let x = try solver.solve(target: bS.map { Glibc.asinh(k * $0) }, intercept: false)
                let u = sub.multiply(x).map { problem.function.value($0) }
                var alpha = 0.0, uu = 0.0, cc = 0.0
                for r in u.indices { alpha += w[r] * u[r]; uu += w[r] * u[r] * u[r] }
                if sub.distribution.isDistributed {
                    var sums = [alpha, uu]
                    sub.communicator.sum(&sums)
                    (alpha, uu) = (sums[0], sums[1])
                }
                for r in u.indices { let c = u[r] - alpha * bS[r]; cc += w[r] * c * c }
                cc = sub.communicator.sum(cc)
                let misfit = (cc / uu).squareRoot()
                // A NaN or infinite misfit is never kept.
                guard misfit.isFinite, uu > 0 else { continue }
                if best == nil || misfit < best!.misfit { best = (misfit, x) }
            }
            return best?.x
        } catch {
            throw .wrapping(error, during: "inverse-fit start")
        }
    }

    /// A seeded Gaussian x scaled so that rms(A x) = 0.5 (one pass over A).
    static func random(_ problem: Problem, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed ^ 0x5EED_5EED)
        let d = problem.columnCount
        var x = (0..<d).map { _ in rng.gaussian() }
        if problem.function == .sinh {
            // Align with the sign of b: sinh is odd, so +x and -x give mirrored fits; start on the side
            // where <A x, b> > 0 is not needed for correctness, only for a quicker run.
            x = x.map { Swift.abs($0) }
        }
        let z = problem.matrix.multiply(x)
        // rms scaled by max |z| first, so that it stays finite for large entries of A
        // (a plain sum of squares overflowed at |A_ij| ~ 1e155 and gave x0 = 0 silently).
        // Over every rank in a distributed run.
        let comm = problem.communicator
        let top = comm.maximum(z.reduce(0) { max($0, magnitude($1)) })
        guard top > 0, top.isFinite else { return [Double](repeating: 0, count: d) }
        let scaledSquares = comm.sum(z.reduce(0) { $0 + ($1 / top) * ($1 / top) })
        let rms = top * (scaledSquares / Double(max(1, problem.globalRowCount))).squareRoot()
        let scale = 0.5 / rms
        return x.map { $0 * scale }
    }

    /// min ||A x + c 1 - log b||, or nil when some b_i <= 0: on all rows, or on a row
    /// sample (weighted by `1 / p_i`) when `rowSample` gives one.
    /// `sampling: false` fits all rows whatever the size.
    static func logFit(_ problem: Problem, seed: UInt64 = 1, sampling: Bool = true) throws(SolverError) -> [Double]? {
        try sampledLogFit(problem, seed: seed, sampling: sampling)?.x
    }

    /// `logFit`, with the largest row norm `max_i ||a_i||_2` of A when the row sample found
    /// it (nil when the fit used all rows).
    static func sampledLogFit(_ problem: Problem, seed: UInt64 = 1, sampling: Bool = true) throws(SolverError) -> (x: [Double], largestRowNorm: Double?)? {
        let b = problem.target
        guard allPositive(problem) else { return nil }
        if sampling, let sample = rowSample(problem, seed: seed) {
            do {
                let solver = try LeastSquares(matrix: problem.matrix.selectingRows(sample.rows), rowWeights: sample.weights,
                                              naming: problem.matrix, during: "log-fit start")
                let x = try solver.solve(target: sample.rows.map { Glibc.log(b[$0]) }, intercept: true)
                return x.allSatisfy(\.isFinite) ? (x, sample.largestSquaredRowNorm.squareRoot()) : nil
            } catch {
                throw .wrapping(error, during: "log-fit start")
            }
        }
        do {
            let solver = try LeastSquares(matrix: problem.matrix, during: "log-fit start")
            // log b in parallel chunks (element-wise: the same bits as a serial map).
            let part = RowPartition(rowCount: b.count, maxChunks: 64, minimumRows: 1 << 14)
            var logB = [Double](repeating: 0, count: b.count)
            logB.withUnsafeMutableBufferPointer { lb in
                let ls = SharedBuffer(lb)
                Parallelism.forEachChunk(part.count) { ch in
                    for i in part.rows(ch) { ls.buffer[i] = Glibc.log(b[i]) }
                }
            }
            if problem.globalRowCount < problem.columnCount, let x = try centredLogFit(problem, solver, logB) {
                return x.allSatisfy(\.isFinite) ? (x, nil) : nil
            }
            let x = try solver.solve(target: logB, intercept: true)
            return x.allSatisfy(\.isFinite) ? (x, nil) : nil
        } catch {
            throw .wrapping(error, during: "log-fit start")
        }
    }

    /// The log-fit for n < d (issue 15): when 1 lies in range(A) (A of full row rank), every
    /// `A x = log b - c 1` fits b exactly (softmax ignores the shift), and the intercept of
    /// `min ||A x + c 1 - log b||` is undetermined; the plain fit takes z0 = log b uncentred,
    /// whose regulariser term `0.5 ||w o z0||^2` dominated the start (L(x0) = 92 and 116 on the
    /// short-text problems against 9.6 and 9.1 centred). This takes the c that minimises L(x0):
    /// `c = sum w_i^2 log b_i / sum w_i^2`, and x0 the minimum-norm solution (A^T A + ridge I,
    /// ridge 1e-10 of the mean diagonal). nil when w = 0 (L(x0) = 0 for every c; the plain fit
    /// keeps alpha = 1, u = b) or when 1 is not in range(A) (`||A y - 1||_2 > 1e-6 sqrt(n)` for
    /// the least-squares y): then the intercept fit is kept. Full-rank problems (n >= d) never
    /// come here.
    static func centredLogFit(_ problem: Problem, _ solver: LeastSquares, _ logB: [Double]) throws -> [Double]? {
        let n = problem.globalRowCount, comm = problem.communicator
        let w2 = problem.squaredWeights
        let sw = comm.sum(w2.reduce(0, +))
        guard sw > 0 else { return nil }
        let ones = [Double](repeating: 1, count: problem.rowCount)
        let y = try solver.solve(target: ones, intercept: false)
        var miss = 0.0
        for v in problem.matrix.multiply(y) { miss += (v - 1) * (v - 1) }
        miss = comm.sum(miss)
        guard miss.squareRoot() <= 1e-6 * Double(n).squareRoot() else { return nil }
        let c = comm.sum(zip(w2, logB).reduce(0) { $0 + $1.0 * $1.1 }) / sw
        return try solver.solve(target: logB.map { $0 - c }, intercept: false)
    }
}

/// Least squares `min ||A x (+ c 1) - y||_2` through one CHOLMOD factorisation of
/// `A^T A + ridge I`, assembled like the Newton Hessian (`HessianSystem`). The optional
/// intercept c is eliminated by a Sherman-Morrison correction: with m = A^T 1, the normal
/// equations become `(A^T A - m m^T / n) x = A^T y - m sum(y) / n`.
///
/// (CHOLMOD's own A^T A path, `NormalEquationsFactor`, gives the same answer but took 5.9 s
/// against 0.4 s for this one at n = 1e6, d = 200, 1e7 nonzeros: docs/solver.md.)
struct LeastSquares {
    let matrix: CSRMatrix
    let system: HessianSystem
    /// Row weights `omega_i` of a weighted fit `min sum_i omega_i (a_i x (+ c) - y_i)^2` (a row
    /// sample's `1 / p_i`); nil: all 1.
    let rowWeights: [Double]?

    /// Factors A^T A + ridge I, ridge = 1e-10 times the mean diagonal (keeps a rank-deficient
    /// A solvable without visibly biasing a well-posed one).
    ///
    /// - Throws: `SolverError.nonFinite` naming the entry of A (`during` prefixes the words)
    ///   when a diagonal entry of the assembled A^T A is not finite. The diagonal is checked
    ///   after the assembly instead of by a separate pass over A beforehand: the naming pass
    ///   (`NonFiniteDiagnosis.normalMatrix`) runs only when there is something to name.
    ///
    /// `naming` is the matrix whose entry an overflow is blamed on (A itself for a fit on a row
    /// sample of A); default `matrix`.
    init(matrix: CSRMatrix, rowWeights: [Double]? = nil, naming: CSRMatrix? = nil, during: String) throws {
        self.matrix = matrix
        self.rowWeights = rowWeights
        system = try HessianSystem(matrix: matrix, context: try CholmodContext())
        let k = system.assemble(weights: rowWeights ?? [Double](repeating: 1, count: matrix.rowCount))
        if !system.diagonalIsFinite(k) {
            let local = NonFiniteDiagnosis.normalMatrix(naming ?? matrix)
            // Distributed: the rank holding the entry names it, and every rank throws.
            if let first = matrix.communicator.firstError(local.map { "\(during): \($0.1)" }) {
                throw SolverError.nonFinite(local?.0 ?? .arithmetic("A^T A overflows"), first.message)
            }
        }
        try system.factorize(values: k, shift: 1e-10 * max(system.meanDiagonal(k), Double.leastNormalMagnitude))
    }

    private func solve(_ rhs: [Double]) throws -> [Double] { try system.factor.solve(rhs) }

    /// The least-squares x without intercept from A^T y (for targets projected in a batch).
    func solve(normalRightHandSide aty: [Double]) throws -> [Double] { try solve(aty) }

    /// The least-squares x for target y, with or without an intercept.
    func solve(target y: [Double], intercept: Bool) throws -> [Double] {
        let a = matrix
        // Weighted: A^T W y, m = A^T W 1, n = sum omega, sum(y) = sum omega y.
        let wy = rowWeights.map { zip($0, y).map { $0 * $1 } } ?? y
        if !intercept { return try solve(a.transposeMultiply(wy)) }
        let comm = a.communicator  // sums over every rank in a distributed run
        let n = rowWeights.map { comm.sum($0.reduce(0, +)) } ?? Double(a.globalRowCount)
        let t = a.transposeMultiply([wy, rowWeights ?? [Double](repeating: 1, count: a.rowCount)])
        let aty = t[0], m = t[1]
        let sumY = comm.sum(wy.reduce(0, +))
        let rhs = zip(aty, m).map { $0 - $1 * sumY / n }
        let mr = try solve(rhs)
        let mu = try solve(m)
        let denominator = 1 - dot(m, mu) / n
        if denominator > 1e-8 {
            let coefficient = dot(m, mr) / n / denominator
            return zip(mr, mu).map { $0 + $1 * coefficient }
        }
        // 1 is (nearly) in range(A): the intercept is redundant, plain least squares.
        return try solve(aty)
    }
}
