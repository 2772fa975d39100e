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

    @Test func aFolderIsRefusedAndLeavesNoTemporaryFile() throws {
        let s = try Scratch()
        // The destination is a non-empty directory: refused before any temporary file is
        // made; the directory stays intact.
        let target = s.path("target")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try s.write("target/keep", "kept")
        let error = caught { try AtomicFile.write(Array("data".utf8), to: target) }
        #expect(error?.path == target)
        #expect(error?.message.contains("is a folder") == true)
        #expect(try s.listing() == ["target"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["keep"])
        // The same through a writer.
        #expect(caught { try MatrixMarket.writeArray([1, 2], rowCount: 2, columnCount: 1, to: target) } != nil)
        #expect(try s.listing() == ["target"])
    }

    @Test func missingDirectoryCreatesNothing() throws {
        let s = try Scratch()
        let error = caught { try AtomicFile.write(Array("data".utf8), to: s.path("no/such/dir/out.mtx")) }
        #expect(error?.message.contains("does not exist") == true)
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

    @Test func aFIFOIsWrittenInPlace() throws {
        let s = try Scratch()
        let fifo = s.path("pipe")
        #expect(mkfifo(fifo, 0o666) == 0)
        // A reader on another thread; the writer opens the FIFO without creating or
        // replacing anything.
        let received = ReceivedBytes()
        let reader = Thread { received.data = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data() }
        reader.start()
        try MatrixMarket.writeArray([1.5, -2], rowCount: 2, columnCount: 1, to: fifo)
        while reader.isExecuting || !reader.isFinished { usleep(1000) }
        #expect(String(decoding: received.data, as: UTF8.self).hasSuffix("2 1\n1.5\n-2\n"))
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "the FIFO was replaced")
        #expect(try s.listing() == ["pipe"])
    }

    @Test func aSetIsAllOrNothing() throws {
        let s = try Scratch()
        try FileManager.default.createDirectory(atPath: s.path("sub"), withIntermediateDirectories: false)
        try s.write("a.mtx", "old a")
        let first = try OutputTarget.resolve(s.path("a.mtx"))
        let second = try OutputTarget.resolve(s.path("sub/b.mtx"))
        // The second folder vanishes between the check and the commit: its temporary file
        // cannot be made, so the first output must not be replaced either.
        try FileManager.default.removeItem(atPath: s.path("sub"))
        let error = caught { try OutputFiles.commit([(first, [Array("new a".utf8)]), (second, [Array("b".utf8)])]) }
        #expect(error?.path == s.path("sub/b.mtx"))
        #expect(try String(contentsOfFile: s.path("a.mtx"), encoding: .utf8) == "old a")
        #expect(try s.listing() == ["a.mtx"])
        // With both folders present the set is written.
        try FileManager.default.createDirectory(atPath: s.path("sub"), withIntermediateDirectories: false)
        try OutputFiles.commit([(first, [Array("new ".utf8), Array("a".utf8)]), (second, [Array("b".utf8)])])
        #expect(try String(contentsOfFile: s.path("a.mtx"), encoding: .utf8) == "new a")
        #expect(try String(contentsOfFile: s.path("sub/b.mtx"), encoding: .utf8) == "b")
    }

    @Test func identitiesSeeThroughLinks() throws {
        let s = try Scratch()
        let a = try s.write("a", "x")
        try FileManager.default.linkItem(atPath: a, toPath: s.path("hard"))
        try FileManager.default.createSymbolicLink(atPath: s.path("soft"), withDestinationPath: "a")
        let id = try #require(FileIdentity.of(a))
        #expect(id.isRegularFile)
        #expect(FileIdentity.of(s.path("hard")) == id)
        #expect(FileIdentity.of(s.path("soft")) == id)
        #expect(FileIdentity.of(s.path("missing")) == nil)
        #expect(try OutputTarget.resolve(s.path("soft")).destination == s.path("a"))
        #expect(try OutputTarget.resolve(s.path("soft")).existing == id)
    }
}

/// Bytes handed from a reader thread.
private final class ReceivedBytes: @unchecked Sendable {
    var data = Data()
}
