// swift-tools-version:6.0
//
// libFuzzer targets for hyperreg (docs/reliability.md). A nested package so that the main
// package's `swift build` and `swift test` never see an executable without `main`: these
// targets link only with `--sanitize=fuzzer`. Build and run them with scripts/fuzz.sh.
import PackageDescription

let package = Package(
    name: "hyperreg-fuzz",
    dependencies: [
        .package(name: "hyperreg", path: ".."),
    ],
    targets: [
        // Feeds arbitrary bytes to the Matrix Market reader (header, matrix, vector; plain
        // text in memory, and gzip through a file when the bytes start with the gzip magic).
        .executableTarget(
            name: "MatrixMarketFuzzer",
            dependencies: [.product(name: "HyperReg", package: "hyperreg")]
        ),
    ]
)
