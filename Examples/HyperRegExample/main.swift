// hyperreg-example: the library example of docs/guide.md. Solves one bundled attention problem
// (default Data/attention/keys-river-l0h3: b is exactly softmax(A x*)) with u = exp and w = 0,
// prints the result, and how close u(Ax)/alpha = softmax(Ax) comes to b.
//
//     swift run hyperreg-example [folder] [x.mtx]

import Foundation
import HyperReg
import MatrixMarket
import SparseCore

let arguments = CommandLine.arguments.dropFirst()
let folder = arguments.first ?? "Data/attention/keys-river-l0h3"
do {
    let a = try MatrixMarket.readMatrix(from: "\(folder)/A.mtx").matrix
    let b = try MatrixMarket.readVector(from: "\(folder)/b.mtx")
    let problem = try Problem(matrix: a, target: b, weight: 0, function: .exp)
    let start = try StartPoint.compute(for: problem, strategy: .automatic)
    var options = SolverOptions()
    options.tolerance = 1e-10            // ||g(x)||_2 <= 1e-10 * ||g(x0)||_2
    let result = try NewtonSolver(options: options).solve(problem, from: start.x0)

    let u = a.multiply(result.x).map { FunctionKind.exp.value($0) }
    let alpha = u.reduce(0, +)
    let l1 = zip(u, b).map { abs($0 / alpha - $1) }.reduce(0, +)
    print("\(folder): \(result.termination.rawValue) after \(result.iterations) iterations from the \(start.used.rawValue) start")
    print("final loss \(result.finalLoss), relative gradient \(result.relativeGradientNorm)")
    print("||u(Ax)/alpha - b||_1 = \(l1)")
    if let output = arguments.dropFirst().first {
        try MatrixMarket.writeArray(result.x, rowCount: result.x.count, columnCount: 1, to: output)
    }
} catch {
    FileHandle.standardError.write(Data("hyperreg-example: \(error)\n".utf8))
    exit(1)
}
