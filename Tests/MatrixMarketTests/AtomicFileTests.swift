// AtomicFile: replaces whole files, and a failure leaves nothing behind.

import Foundation
import MatrixMarket
import Testing

@Suite("Atomic file output")
struct AtomicFileTests {
    @Test func writesAndReplaces() throws {
        let s = try Scratch()
        let path = s.path("out.txt")
        try AtomicFile.write(Array("first".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
        try AtomicFile.write(Array("second, longer".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second, longer")
        try AtomicFile.write([], to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        #expect(try s.listing() == ["out.txt"])
    }

    @Test func failedRenameLeavesNoTemporaryFile() throws {
        let s = try Scratch()
        // The destination is a non-empty directory: the temporary file is written and
        // synced, then the rename fails; the temporary must be gone, the directory intact.
        let target = s.path("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try s.write("target/keep", "kept")
        let error = caught { try AtomicFile.write(Array("data".utf8), to: target) }
        #expect(error?.path == target)
        #expect(error?.message.contains("cannot rename") == true)
        #expect(try s.listing() == ["target"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["keep"])
        // The same through a writer.
        #expect(caught { try MatrixMarket.writeArray([1, 2], rowCount: 2, columnCount: 1, to: target) } != nil)
        #expect(try s.listing() == ["target"])
    }

    @Test func missingDirectoryCreatesNothing() throws {
        let s = try Scratch()
        let error = caught { try AtomicFile.write(Array("data".utf8), to: s.path("no/such/dir/out.mtx")) }
        #expect(error?.message.contains("cannot create a temporary file") == true)
        #expect(try s.listing() == [])
    }

    @Test func failedWriteKeepsTheOldFile() throws {
        let s = try Scratch()
        let path = try s.write("old.mtx", "old contents")
        // Wrong count: the writer fails before touching anything.
        #expect(caught { try MatrixMarket.writeArray([1], rowCount: 2, columnCount: 1, to: path) } != nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old contents")
        #expect(try s.listing() == ["old.mtx"])
    }
}
