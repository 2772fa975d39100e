// swift-tools-version:6.0
//
// hyperreg: rescaled hyperbolic functions regression on sparse matrices.
// Layers (docs/architecture.md), dependencies point downwards only:
//   HyperRegCLI (executable `hyperreg`)  ->  HyperReg (solver)  ->  Cholmod -> CSuiteSparse
//                                                               ->  DenseLinearAlgebra -> CSuiteSparse (LAPACK)
//                                         ->  MatrixMarket -> CZlib
//                                         ->  SparseCore (pure Swift, no Foundation, no C)
//   CHyperReg (C ABI, libCHyperReg.so) and HyperRegCLI -> HyperRegReport (JSON report) -> HyperReg
import PackageDescription

// Version 0.1.0 (HyperRegPackage.version, `hyperreg --version`); releases are tagged with it.
let package = Package(
    name: "hyperreg",
    products: [
        .library(name: "HyperReg", targets: ["HyperReg", "SparseCore", "MatrixMarket", "Cholmod", "DenseLinearAlgebra"]),
        .executable(name: "hyperreg", targets: ["HyperRegCLI"]),
        // The C ABI (include/hyperreg.h) as libCHyperReg.so; the Python package (python/) loads it.
        .library(name: "CHyperReg", type: .dynamic, targets: ["CHyperReg"]),
        // The user guide's library example (docs/guide.md); built by `swift build` so it cannot rot.
        .executable(name: "hyperreg-example", targets: ["HyperRegExample"]),
        // Test fixtures (ThreadGroup: K ranks as threads), for the nested Benchmarks package.
        .library(name: "HyperRegTestSupport", targets: ["HyperRegTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // API docs: `swift package generate-documentation --target HyperReg` (docs/guide.md).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian packages; no pkg-config files ship with them).
        .systemLibrary(
            name: "CSuiteSparse",
            path: "CSuiteSparse",
            providers: [.apt(["libsuitesparse-dev", "libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // Pure-Swift sparse core: CSR, builders, deterministic parallel kernels.
        .target(name: "SparseCore"),
        // Matrix Market reading and writing (gzip through zlib).
        .target(name: "MatrixMarket", dependencies: ["SparseCore", "CZlib"]),
        // Owned CHOLMOD objects; no C type in the public API.
        .target(name: "Cholmod", dependencies: ["SparseCore", "CSuiteSparse"]),
        // Dense BLAS/LAPACK wrappers (QR, triangular solves, symmetric eigen, dsyrk Gram).
        .target(name: "DenseLinearAlgebra", dependencies: ["SparseCore", "CSuiteSparse"]),
        // The solver: objective, Hessian, Newton driver, start points, planted problems.
        .target(name: "HyperReg", dependencies: ["SparseCore", "Cholmod", "DenseLinearAlgebra"]),
        // The solve report (JSON) and the version, shared by the command line and the C ABI.
        .target(name: "HyperRegReport", dependencies: ["HyperReg"]),
        // The C ABI: `@_cdecl` functions declared in include/hyperreg.h (docs/python.md).
        .target(name: "CHyperReg", dependencies: ["HyperReg", "HyperRegReport", "SparseCore", "MatrixMarket"]),
        // The command-line tool.
        .executableTarget(
            name: "HyperRegCLI",
            dependencies: [
                "HyperReg", "HyperRegReport", "SparseCore", "MatrixMarket", "Cholmod",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The library example of docs/guide.md: solve one bundled attention problem.
        .executableTarget(
            name: "HyperRegExample",
            dependencies: ["HyperReg", "MatrixMarket", "SparseCore"],
            path: "Examples/HyperRegExample"
        ),

        // Shared test fixtures: dense references, tolerances, paths to ../shared/data.
        .target(name: "HyperRegTestSupport", dependencies: ["SparseCore", "Cholmod", "DenseLinearAlgebra", "CSuiteSparse"]),

        .testTarget(name: "SparseCoreTests", dependencies: ["SparseCore", "HyperRegTestSupport"]),
        .testTarget(name: "MatrixMarketTests", dependencies: ["MatrixMarket", "SparseCore", "HyperRegTestSupport"]),
        .testTarget(name: "CholmodTests", dependencies: ["Cholmod", "DenseLinearAlgebra", "SparseCore", "HyperRegTestSupport"]),
        // Fixtures/behaviour.json is read through its path (BehaviourFreezeTests), not as a resource.
        .testTarget(name: "HyperRegTests", dependencies: ["HyperReg", "Cholmod", "DenseLinearAlgebra", "SparseCore", "MatrixMarket", "HyperRegTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["HyperRegCLI", "HyperRegExample", "MatrixMarket", "SparseCore", "HyperRegTestSupport"]),
    ]
)

// MPI scale-out (issue 17, docs/scale-out.md): `HYPERREG_MPI=1 swift build -c release --product
// hyperreg` adds Open MPI (CMPI, pkg-config ompi-c) and its communicator (HyperRegMPI), and
// builds `hyperreg` with the `HYPERREG_MPI` condition (Sources/HyperRegCLI/Distributed.swift).
// Without the variable nothing here applies and no MPI is needed.
if Context.environment["HYPERREG_MPI"] == "1" {
    package.targets += [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "HyperRegMPI", dependencies: ["SparseCore", "CMPI"]),
    ]
    let cli = package.targets.first { $0.name == "HyperRegCLI" }!
    cli.dependencies.append("HyperRegMPI")
    cli.swiftSettings = (cli.swiftSettings ?? []) + [.define("HYPERREG_MPI")]
}
