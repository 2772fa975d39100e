// The row-partitioned solve (issue 17): K ranks (threads of one process, `ThreadGroup`, the
// same collectives as MPI) each holding a contiguous row block must reach the single-process
// answer: same status, same iterations, x equal to round-off.
//
// Why not bit for bit: each rank sums its rows in its own chunks, and the ranks' partial sums
// are then added in rank order, so a sum over rows is associated differently for every K
// (docs/scale-out.md, "Same answer"). Each sum then differs by a few ulp of its terms, and x
// by about cond(H) times that: 1e-13 relative on these well-conditioned problems (cond(H)
// ~1e2), where a missing or doubled reduction (a pass that forgets to combine over the ranks)
// is wrong by orders of magnitude.

import HyperRegTestSupport
import SparseCore
import Testing
@testable import HyperReg

@Suite("Row-partitioned solve", .serialized)
struct DistributedSolveTests {
    /// Rank `comm.rank`'s block of `p` (the evenly split rows of `RowDistribution.block`).
    static func block(of p: Problem, _ comm: any Communicator) throws -> Problem {
        let rows = RowDistribution.block(rows: p.rowCount, ranks: comm.size, rank: comm.rank)
        let local = p.matrix.selectingRows(Array(rows)).distributed(over: comm, rowOffset: rows.lowerBound)
        return try Problem(matrix: local, target: Array(p.target[rows]), weights: Array(p.weights[rows]), function: p.function)
    }

    static func planted(_ kind: FunctionKind, rows: Int = 6000, columns: Int = 12, seed: UInt64 = 3) throws -> Problem {
        var s = PlantedProblem.Settings(rows: rows, columns: columns, density: 0.3)
        s.function = kind; s.weight = 0.1; s.noise = 0.1; s.seed = seed
        return try PlantedProblem.generate(s).problem()
    }

    static func options(_ hessian: HessianStrategy) -> SolverOptions {
        var o = SolverOptions()
        o.hessian = hessian; o.tolerance = 1e-10; o.measurePass = false
        return o
    }

    /// Solves `p` on one process and on K ranks (from the automatic start, computed on the
    /// ranks too) and checks the outcomes agree.
    static func agree(_ p: Problem, _ hessian: HessianStrategy, ranks: [Int] = [1, 2, 3, 4]) throws {
        let o = options(hessian)
        let (x0, _) = try StartPoint.compute(for: p, strategy: .automatic)
        let single = try NewtonSolver(options: o).solve(p, from: x0)
        #expect(single.termination == .converged, "\(single.message)")
        for k in ranks {
            let results = try ThreadGroup.run(ranks: k) { comm -> (SolverResult, [Double]) in
                let local = try block(of: p, comm)
                let (start, _) = try StartPoint.compute(for: local, strategy: .automatic)
                return (try NewtonSolver(options: o).solve(local, from: start), start)
            }
            for (r, (result, start)) in results.enumerated() {
                let scale = max(1, norm2(single.x))
                // The start compared through z0 = A x0: for a rank-deficient A the least-squares
                // start's part in null(A) is round-off of a ridged solve (about 1e10 eps, see
                // RankDeficientTests) and does not enter the objective.
                let z0 = p.matrix.multiply(x0), z = p.matrix.multiply(start)
                let startScale = max(1, norm2(z0))
                #expect(distance(z, z0) <= 1e-12 * startScale, "K = \(k), rank \(r): A x0 differs by \(distance(z, z0) / startScale)")
                #expect(result.termination == single.termination, "K = \(k), rank \(r): \(result.message)")
                #expect(result.iterations == single.iterations, "K = \(k), rank \(r): \(result.iterations) iterations against \(single.iterations)")
                #expect(distance(result.x, single.x) <= 1e-12 * scale, "K = \(k), rank \(r): x differs by \(distance(result.x, single.x) / scale)")
                #expect(Swift.abs(result.finalLoss - single.finalLoss) <= 1e-12 * max(1, single.finalLoss))
                // Every rank holds the same x, bit for bit (the ordered sums give all ranks the same bits).
                #expect(result.x == results[0].0.x)
            }
        }
    }

    static func distance(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
    }

    @Test(arguments: [FunctionKind.exp, .cosh, .sinh])
    func exactNewtonAgreesWithOneProcess(_ kind: FunctionKind) throws {
        try Self.agree(try Self.planted(kind), .exact)
    }

    /// The sketch's sample hashes global row numbers, so the same rows are kept for any K.
    @Test(arguments: [FunctionKind.exp, .cosh])
    func sketchAgreesWithOneProcess(_ kind: FunctionKind) throws {
        try Self.agree(try Self.planted(kind, rows: 20000, columns: 10), .sketch, ranks: [1, 2, 4])
    }

    @Test func pcgAndAutoAgreeWithOneProcess() throws {
        let p = try Self.planted(.exp, rows: 20000, columns: 10)
        try Self.agree(p, .pcg, ranks: [1, 3])
        try Self.agree(p, .automatic, ranks: [2])
    }

    /// n >= 65 536: the start fits a row sample (`StartPoint.rowSample`), drawn by global row.
    @Test func sampledStartAgreesWithOneProcess() throws {
        let p = try Self.planted(.exp, rows: 70000, columns: 8)
        #expect(StartPoint.rowSample(p, seed: 1) != nil)
        try Self.agree(p, .exact, ranks: [2])
    }

    /// More ranks than rows leaves some blocks empty: still the same answer.
    @Test func emptyBlocksAreHarmless() throws {
        try Self.agree(try Self.planted(.exp, rows: 3, columns: 2, seed: 5), .exact, ranks: [4])
    }

    /// A bad value on one rank ends every rank with the same error, naming the global row.
    @Test func aBadValueOnOneRankStopsEveryRank() throws {
        let p = try Self.planted(.exp, rows: 400, columns: 4)
        var target = p.target
        target[301] = .nan
        let b = target
        let bad = try Problem(matrix: p.matrix, target: b.map { $0.isNaN ? 0 : $0 }, weights: p.weights, function: .exp)
        let messages = ThreadGroup.run(ranks: 4) { comm -> String in
            let rows = RowDistribution.block(rows: bad.rowCount, ranks: comm.size, rank: comm.rank)
            let local = bad.matrix.selectingRows(Array(rows)).distributed(over: comm, rowOffset: rows.lowerBound)
            do {
                _ = try Problem(matrix: local, target: Array(b[rows]), weights: Array(bad.weights[rows]), function: .exp)
                return "no error"
            } catch let error as ProblemError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(messages.allSatisfy { $0 == "b[302] = nan is not finite" }, "\(messages)")
    }

    /// An overflow traced to an entry of A on rank 2: every rank reports the one-process
    /// message and cause, word for word (the diagnosis runs on each rank's rows and the rank
    /// whose search found the largest term speaks; rows are named by their global number).
    @Test(arguments: [FunctionKind.exp, .cosh])
    func anOverflowIsBlamedOnTheSameEntryAsOnOneProcess(_ kind: FunctionKind) throws {
        let p = try Self.planted(kind, rows: 400, columns: 4)
        var values = p.matrix.values.array
        // Rank 2 of 4 holds rows 200 ..< 300: the first stored entry from row 250 on.
        let row = try #require((250 ..< 300).first { p.matrix.nonzeroCount(inRow: $0) > 0 })
        values[p.matrix.rowOffsets[row]] = 1e200
        let a = p.matrix.withValues(values)
        let bad = try Problem(matrix: a, target: p.target, weights: p.weights, function: kind)
        let o = Self.options(.exact)
        let x0 = [Double](repeating: 0.01, count: bad.columnCount)
        let single = try NewtonSolver(options: o).solve(bad, from: x0)
        #expect(single.termination == .nonFinite)
        let results = try ThreadGroup.run(ranks: 4) { comm in try NewtonSolver(options: o).solve(try Self.block(of: bad, comm), from: x0) }
        for (r, result) in results.enumerated() {
            #expect(result.termination == .nonFinite, "rank \(r): \(result.message)")
            #expect(result.message == single.message, "rank \(r): \(result.message)")
            #expect(result.nonFiniteCause == single.nonFiniteCause, "rank \(r)")
        }
        if case .matrix(let r, _, _)? = single.nonFiniteCause { #expect(r == row + 1) } else { Issue.record("cause \(String(describing: single.nonFiniteCause))") }
    }


    /// Fewer rows than columns (rank-deficient A, issue 15's minimum-norm steps on a basis of
    /// range(A^T) from the combined Gram matrix): the same minimiser and outcome on 2 and 3 ranks.
    @Test func rankDeficientShortProblemAgreesWithOneProcess() throws {
        let (a, b, w) = try RankDeficientTests.problem(rows: 30, columns: 50, seed: 4, weight: 0.1)
        try Self.agree(try Problem(matrix: a, target: b, weights: w, function: .exp), .exact, ranks: [2, 3])
    }

}
