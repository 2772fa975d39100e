// Per-phase wall times of a solve on 1 and 2 threads (issue 14, item 4): every phase a pass
// of the solve is built from, timed alone (best of N, the same process, the two thread counts
// interleaved), with the speed-up and the phase's cost in passes of `A x` on 2 threads.
//
//   cd Benchmarks && swift run -c release Phases DIR [repeats] [filter]
//
// With a filter, only the phases whose name contains it are timed (besides `A x`, the unit),
// e.g. "solve" to profile the solve alone under `perf record`.
//
// DIR holds A.mtx, b.mtx and w.mtx from `hyperreg generate` (exp). Prints a Markdown table.
// The figures in docs/performance.md ("Scaling per phase") come from this program.

import Foundation
import HyperReg
import MatrixMarket
import SparseCore

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write("usage: Phases DIR [repeats]\n".data(using: .utf8)!)
    exit(64)
}
let dir = arguments[1]
let repeats = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
let filter = arguments.count > 3 ? arguments[3] : nil

func now() -> Double { Date().timeIntervalSinceReferenceDate }

/// Best wall time of `body` over `repeats` runs with `threads` threads.
func best(_ threads: Int, _ body: () throws -> Void) rethrows -> Double {
    var b = Double.infinity
    for _ in 0..<repeats {
        let t0 = now()
        _ = try Parallelism.withThreadCount(threads) { try body() }
        b = min(b, now() - t0)
    }
    return b
}

let a = try MatrixMarket.readMatrix(from: dir + "/A.mtx").matrix
let b = try MatrixMarket.readVector(from: dir + "/b.mtx")
let w = try MatrixMarket.readVector(from: dir + "/w.mtx")
let problem = try Problem(matrix: a, target: b, weights: w, function: .exp)
let objective = Objective(problem: problem)
let x0 = try StartPoint.compute(for: problem, strategy: .automatic).x0
let e = objective.evaluate(x0)
let pieces = objective.gradientPieces(e)
let delta = objective.hessianWeights(e)
let pattern = try NormalMatrixPattern(matrix: a)
var forward = [Double](repeating: 0, count: a.rowCount)
let ones = [Double](repeating: 1, count: a.rowCount)

let phases: [(String, () throws -> Void)] = [
    ("read A.mtx (parse + CSR)", { _ = try MatrixMarket.readMatrix(from: dir + "/A.mtx") }),
    ("A x (one pass)", { _ = a.multiply(x0) }),
    // The solver hands every evaluation's vectors back (Objective.recycle); so does this.
    ("evaluate: A x, exp, vector pass", { objective.recycle(objective.evaluate(x0)) }),
    ("trial point: exp and vector pass, no A", { objective.recycle(objective.evaluate(z: e.z)) }),
    ("gradient, p, q (transpose pass)", { _ = objective.gradientPieces(e) }),
    ("Hessian-vector product (one pass)", { _ = a.weightedNormalProduct(weights: delta, pieces.gradient, forward: &forward) }),
    ("Hessian weights delta (vector)", { objective.recycle(objective.hessianWeights(e)) }),
    ("assembly A^T D A, all rows", { _ = pattern.assemble(a, weights: delta) }),
    ("gradient pass and assembly in one sweep", { _ = objective.gradientPiecesAndHessian(e, pattern: pattern) }),
    ("sparse embedding (leverage)", { _ = a.sparseSignEmbedding(rowScales: ones, blocks: 2, blockRows: 2 * a.columnCount, seed: 1) }),
    ("row-norm sample (start, pcg)", { _ = a.rowNormSample(targetRows: 10_000, seed: 1) }),
    ("start point (auto)", { _ = try StartPoint.compute(for: problem, strategy: .automatic) }),
    ("solve, --hessian auto, from x0", {
        var o = SolverOptions(); o.tolerance = 1e-8
        _ = try NewtonSolver(options: o).solve(problem, from: x0)
    }),
    ("solve, --hessian exact, from x0", {
        var o = SolverOptions(); o.tolerance = 1e-8; o.hessian = .exact
        _ = try NewtonSolver(options: o).solve(problem, from: x0)
    }),
    ("solve, --hessian pcg, from x0", {
        var o = SolverOptions(); o.tolerance = 1e-8; o.hessian = .pcg
        _ = try NewtonSolver(options: o).solve(problem, from: x0)
    }),
]

var pass2 = 0.0
print("n = \(a.rowCount), d = \(a.columnCount), nnz = \(a.nonzeroCount); best of \(repeats); \(ProcessInfo.processInfo.activeProcessorCount) processors")
print("")
print("| phase | 1 thread ms | 2 threads ms | speed-up | passes (2 threads) |")
print("|---|---|---|---|---|")
for (name, body) in phases where filter.map({ name.hasPrefix("A x") || name.contains($0) }) ?? true {
    var t1 = Double.infinity, t2 = Double.infinity
    for _ in 0..<2 {  // interleaved, so load drifts hit both
        t1 = min(t1, try best(1, body))
        t2 = min(t2, try best(2, body))
    }
    if name.hasPrefix("A x") { pass2 = t2 }
    print(String(format: "| %@ | %.2f | %.2f | %.2fx | %.2f |", name, t1 * 1e3, t2 * 1e3, t1 / t2, pass2 > 0 ? t2 / pass2 : 0))
}
