import Benchmark
import Cholmod
import DenseLinearAlgebra
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

    // The leverage-score estimate's parts (were the print-only SketchTimings test): the sparse
    // sign embedding pass (2 blocks, m = 4d rows), the projection pass (k = 16), and the QR
    // of the m x d sketch.
    let scales = diagonal.map { $0.squareRoot() }
    let m = sampler.embeddingRows
    Benchmark("sparse sign embedding (2 blocks, m = 4d)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(planted.matrix.sparseSignEmbedding(rowScales: scales, blocks: 2, blockRows: m / 2, seed: 1))
        }
    }
    let projection = [Double](repeating: 0.1, count: planted.matrix.columnCount * 16)
    Benchmark("projection pass (k = 16)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(planted.matrix.projectedRowNormsSquared(rowScales: scales, projection: projection, columns: 16))
        }
    }
    let sketch = planted.matrix.sparseSignEmbedding(rowScales: scales, blocks: 2, blockRows: m / 2, seed: 1)
    Benchmark("QR of the m x d sketch (dgeqrf)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            var copy = sketch
            blackHole(try! DenseLAPACK.qrUpperFactor(&copy, rows: m, columns: planted.matrix.columnCount))
        }
    }

    // Drawing the sample and re-using scores (vector work), then assembling A^T D A over all
    // rows and over the sample.
    let scores = try! sampler.estimate(diagonal: diagonal)
    let beta = SketchOptions().oversampling(dimension: planted.matrix.columnCount)
    Benchmark("leverage-score sample", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(sampler.sample(scores, beta: beta, salt: 1)) }
    }
    let rescaled = diagonal.map { $0 * 1.1 }
    Benchmark("leverage-score re-use (rescale)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(sampler.rescale(scores, to: rescaled)) }
    }
    let pattern = try! NormalMatrixPattern(matrix: planted.matrix)
    Benchmark("assembly A^T D A, all rows", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(pattern.assemble(planted.matrix, weights: diagonal)) }
    }
    let pick = sampler.sample(scores, beta: beta, salt: 1)
    Benchmark("assembly A^T D A, sampled rows", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(pattern.assemble(planted.matrix, weights: pick.weights, rows: pick.rows)) }
    }

    // CHOLMOD on the d x d Hessian (was the print-only CholmodTests.TimingTests): symbolic
    // analysis once per solve, numeric factorisation and a solve every iteration.
    let context = try! CholmodContext()
    let values = pattern.assemble(planted.matrix, weights: diagonal)
    Benchmark("CHOLMOD symbolic analysis (d = 200)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! SymmetricFactor(context: context, dimension: pattern.dimension,
                                           columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices))
        }
    }
    let factor = try! SymmetricFactor(context: context, dimension: pattern.dimension,
                                      columnOffsets: pattern.columnOffsets, rowIndices: pattern.rowIndices)
    Benchmark("CHOLMOD numeric factorisation (d = 200)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { try! factor.factorize(values: values, shift: 1e-8) }
    }
    try! factor.factorize(values: values, shift: 1e-8)
    let rhs = [y, y.map { $0 * 0.5 }, y.map { -$0 }].map { Array(planted.matrix.transposeMultiply($0)) }
    Benchmark("CHOLMOD solve, 3 right-hand sides (d = 200)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! factor.solve(columns: rhs)) }
    }

    // Matrix Market parse of the same A (page cache warm after the first iteration).
    let path = mtxPath
    Benchmark("Matrix Market parse (coordinate, 4e6 entries)", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! MatrixMarket.readMatrix(from: path)) }
    }
}
