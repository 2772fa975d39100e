// Shared helpers for the MatrixMarket tests: temporary files, error capture, gzip.

import Foundation
import MatrixMarket
import SparseCore
import HyperRegTestSupport
import Testing

/// A fresh temporary directory, removed when the value is released.
final class Scratch {
    let url: URL

    init(_ label: String = "mm-test") throws {
        url = try TestPaths.makeTemporaryDirectory(label)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside the directory.
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` (UTF-8, as is) to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Names in the directory, sorted.
    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }
}

/// The `MatrixMarketError` that `body` throws, or nil (any other error is a test failure).
func caught<T>(_ body: () throws -> T) -> MatrixMarketError? {
    do {
        _ = try body()
        return nil
    } catch let error as MatrixMarketError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// gzip-compresses `bytes` with the system `gzip` tool.
func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let scratch = try Scratch("mm-gzip")
    let input = try scratch.write("in", bytes)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "gzip -c -n '\(input)' > '\(input).gz'"]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
    return Array(try Data(contentsOf: URL(fileURLWithPath: input + ".gz")))
}

/// Element-wise bit equality of two arrays of doubles.
func bitsEqual<A: Collection<Double>, B: Collection<Double>>(_ a: A, _ b: B) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// A path in the shared folder of real Matrix Market files.
func sharedMatrix(_ name: String) -> String {
    TestPaths.sharedMatrixDirectory.appendingPathComponent(name).path
}

/// Runs `body` with standard input redirected from the file at `path`.
func withStandardInput<T>(from path: String, _ body: () throws -> T) throws -> T {
    let saved = dup(0)
    let fd = open(path, O_RDONLY)
    precondition(saved >= 0 && fd >= 0)
    dup2(fd, 0)
    close(fd)
    defer {
        dup2(saved, 0)
        close(saved)
    }
    return try body()
}

/// The shared seeded generator (SplitMix64) of HyperRegTestSupport, so test data repeats.
typealias SplitMix = FixtureRandom
