import Benchmark
import Foundation
import HyperReg
import MatrixMarket
import SparseCore

/// One planted problem shared by every benchmark: n = 200 000 rows, d = 200, 20 nonzeros per row
/// (4e6 nonzeros, 46 MiB of CSR), large enough that a pass streams from memory, not cache.
let planted: PlantedProblem = {
    var s = PlantedProblem.Settings(rows: 200_000, columns: 200, density: 0.1)
    s.weight = 0.01
    return try! PlantedProblem.generate(s)
}()
let problem = try! planted.problem()
let objective = Objective(problem: problem)
let x = planted.xTrue.map { $0 * 0.5 }

/// The same A as a Matrix Market file in the temporary directory, written once.
let mtxPath: String = {
    let path = NSTemporaryDirectory() + "hyperreg-bench-kernels-A.mtx"
    try! MatrixMarket.writeCoordinate(planted.matrix, to: path)
    return path
}()

let benchmarks: @Sendable () -> Void = {
    let config = Benchmark.Configuration(metrics: [.wallClock, .throughput, .peakMemoryResident],
                                         maxDuration: .seconds(5), maxIterations: 50)

    // z = A x, u, v and <u,1> in one streaming pass (the fused row pass of every iteration).
    Benchmark("fused row pass (evaluate)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(objective.evaluate(x)) }
    }

    // A^T y: one transpose pass, one right-hand side.
    let y = objective.evaluate(x).z
    Benchmark("transpose product (A^T y)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(planted.matrix.transposeMultiply(y)) }
    }

    // A^T [g p q]: three right-hand sides in one pass (gradient and the rank-2 Hessian part).
    let ys = [y, y.map { $0 * 0.5 }, y.map { -$0 }]
    Benchmark("transpose product, 3 right-hand sides", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(planted.matrix.transposeMultiply(ys)) }
    }

    // Leverage-score estimate: embedding pass, QR, projection pass (two passes over A).
    let sampler = LeverageSampler(matrix: planted.matrix, options: SketchOptions())
    let diagonal = objective.sketchWeights(objective.evaluate(x))
    Benchmark("leverage-score estimate", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! sampler.estimate(diagonal: diagonal)) }
    }

    // Matrix Market parse of the same A (page cache warm after the first iteration).
    let path = mtxPath
    Benchmark("Matrix Market parse (coordinate, 4e6 entries)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! MatrixMarket.readMatrix(from: path)) }
    }
}
