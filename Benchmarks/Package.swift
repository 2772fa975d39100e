// swift-tools-version:6.1
//
// Micro-benchmarks of hyperreg's kernels with ordo-one/benchmark, kept in this nested package so
// the main build and CI do not fetch or build the benchmark library. Run from this directory:
//   swift package benchmark            (all)
//   swift package benchmark --filter "transpose.*"
//   swift run -c release Phases DIR    (per-phase 1- vs 2-thread wall times)
//   swift run -c release DistributedRead FILE   (distributed reading, 1/2/4 thread ranks)
// The end-to-end comparison with SciPy is scripts/bench/run.sh (docs/performance.md).
import PackageDescription

let package = Package(
    name: "hyperreg-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "hyperreg", path: ".."),
        // The MallocInterposer trait is required for resolution (docs/performance.md, "Swift micro-benchmarks").
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HyperReg", package: "hyperreg"),
            ],
            path: "Benchmarks/Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The distributed reader with 1, 2, 4 thread ranks against the whole-file reader (docs/scale-out-reading.md).
        .executableTarget(
            name: "DistributedRead",
            dependencies: [.product(name: "HyperReg", package: "hyperreg"), .product(name: "HyperRegTestSupport", package: "hyperreg")],
            path: "Benchmarks/DistributedRead"
        ),
        // Per-phase wall times on 1 and 2 threads (docs/performance.md, "Scaling per phase").
        .executableTarget(
            name: "Phases",
            dependencies: [.product(name: "HyperReg", package: "hyperreg")],
            path: "Benchmarks/Phases"
        ),
    ]
)
