// HyperRegTestSupport: fixtures shared by the test targets: paths to the bundled and
// shared data, seeded random problems, dense reference linear algebra.

import Foundation
import SparseCore

/// Where test data lives.
public enum TestPaths {
    /// The package root (the folder holding Package.swift), found from this file's path.
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Support.swift, HyperRegTestSupport, Sources
        return url
    }()

    /// `../shared/data/mtx` beside the checkout: real public Matrix Market files.
    public static var sharedMatrixDirectory: URL {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mtx")
    }

    /// True when `../shared/data/mtx` exists beside the checkout (a fresh clone on its own
    /// has no `../shared`).
    public static var sharedDataAvailable: Bool {
        FileManager.default.fileExists(atPath: sharedMatrixDirectory.path)
    }

    /// True when the environment sets `HYPERREG_REQUIRE_SHARED_DATA=1` (CI does): then the
    /// tests that read `../shared/data/mtx` run, and fail, when it is absent, instead of
    /// being skipped.
    public static var sharedDataRequired: Bool {
        ProcessInfo.processInfo.environment["HYPERREG_REQUIRE_SHARED_DATA"] == "1"
    }

    /// Whether the tests that read `../shared/data/mtx` run: the data is there, or CI
    /// requires it.
    public static var runsSharedDataTests: Bool { sharedDataAvailable || sharedDataRequired }

    /// The package's bundled datasets, `Data/`.
    public static var bundledDataDirectory: URL { packageRoot.appendingPathComponent("Data") }

    /// A fresh empty temporary directory for one test.
    public static func makeTemporaryDirectory(_ label: String = "hyperreg-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
