// Output discipline: where each output goes is resolved before any work, and a set of
// outputs is committed together.
//
// * A regular file (or a path that does not exist yet) is replaced atomically: its bytes go
//   to an unnamed temporary file in the destination's folder (Linux `O_TMPFILE`; elsewhere,
//   or on a file system without it, a named `.NAME.tmp-PID-TAG` file), which is synced,
//   given a temporary name and renamed over the destination. A kill (even SIGKILL) while the
//   bytes are written leaves nothing behind.
// * A symbolic link is followed: its final target is replaced atomically and the link stays
//   (a dangling link gets its target created).
// * A character device or FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written in
//   place, never replaced. A folder, a block device and a socket are refused.
// * `-` is standard output. Every `write` and `close` is checked.
//
// `OutputFiles.commit` writes all temporary files of a set first (any failure: none of
// them appears), then the in-place outputs, then renames the files one after the other.
// The only window in which a set can be half-committed is between two `rename` calls.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The identity of a file (device and inode), to recognise the same file under two names.
public struct FileIdentity: Hashable, Sendable {
    /// `st_dev`.
    public let device: UInt64
    /// `st_ino`.
    public let inode: UInt64
    /// Whether it is a regular file (not a device, FIFO or folder).
    public let isRegularFile: Bool

    /// The identity of what `path` names after following symbolic links, or nil when it
    /// does not exist (or cannot be examined). `-` is standard input.
    public static func of(_ path: String) -> FileIdentity? {
        var info = stat()
        if path == "-" { return fstat(0, &info) == 0 ? FileIdentity(info) : nil }
        return stat(path, &info) == 0 ? FileIdentity(info) : nil
    }

    /// The identity of the open file descriptor `fd`, or nil.
    public static func of(descriptor fd: Int32) -> FileIdentity? {
        var info = stat()
        return fstat(fd, &info) == 0 ? FileIdentity(info) : nil
    }

    init(_ info: stat) {
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(truncatingIfNeeded: info.st_ino)
        isRegularFile = info.st_mode & S_IFMT == S_IFREG
    }
}

/// An output destination, resolved (and checked for writability) before any work.
public struct OutputTarget: Sendable, Equatable {
    /// How the bytes reach the destination.
    public enum Kind: Sendable, Equatable {
        /// Standard output (`-`).
        case standardOutput
        /// A regular file, new or replaced atomically.
        case file
        /// A character device or FIFO, written in place (opened without creating or truncating).
        case inPlace
    }

    /// The path as the caller gave it (errors name it; `<stdout>` for `-`).
    public let path: String
    /// How it is written.
    public let kind: Kind
    /// What is written or replaced: the final target of a symbolic link, else `path`.
    public let destination: String
    /// The file there now, if any (for `-`, standard output's file).
    public let existing: FileIdentity?

    /// The name errors use.
    public var displayName: String { kind == .standardOutput ? "<stdout>" : path }

    /// Resolves `path` and checks that it can be written, creating nothing that outlives
    /// the call: a folder, a block device, a socket, a missing or read-only folder, a path
    /// ending in `/` are errors.
    ///
    /// - Throws: `MatrixMarketError` naming `path` and the reason.
    public static func resolve(_ path: String) throws(MatrixMarketError) -> OutputTarget {
        if path == "-" {
            return OutputTarget(path: path, kind: .standardOutput, destination: path, existing: FileIdentity.of(descriptor: 1))
        }
        func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: path, message: message) }
        guard !path.isEmpty else { throw fail("empty output path") }
        let destination = try followLinks(path)
        var info = stat()
        if lstat(destination, &info) == 0 {
            let identity = FileIdentity(info)
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                try checkFolder(of: destination, path: path)
                return OutputTarget(path: path, kind: .file, destination: destination, existing: identity)
            case S_IFCHR, S_IFIFO:
                guard access(destination, W_OK) == 0 else { throw fail("cannot write: \(errnoText())") }
                return OutputTarget(path: path, kind: .inPlace, destination: destination, existing: identity)
            case S_IFDIR:
                throw fail("is a folder; give a file name")
            case S_IFBLK:
                throw fail("is a block device; refusing to write onto it")
            case S_IFSOCK:
                throw fail("is a socket; cannot write a file there")
            default:
                throw fail("is not a regular file, character device or FIFO")
            }
        }
        guard errno == ENOENT else { throw fail("cannot examine: \(errnoText())") }
        if destination.hasSuffix("/") { throw fail("names a folder (ends in '/'); give a file name") }
        try checkFolder(of: destination, path: path)
        return OutputTarget(path: path, kind: .file, destination: destination, existing: nil)
    }

    /// Follows a chain of symbolic links (at most 40) to the path it finally names.
    private static func followLinks(_ path: String) throws(MatrixMarketError) -> String {
        var current = path
        for _ in 0 ..< 40 {
            var info = stat()
            guard lstat(current, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            guard n > 0 else { throw MatrixMarketError(path: path, message: "cannot read the symbolic link: \(errnoText())") }
            let target = String(decoding: buffer[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : folder(of: current) + "/" + target
        }
        throw MatrixMarketError(path: path, message: "too many levels of symbolic links")
    }

    /// Checks that the folder of `destination` exists and accepts a new file: a temporary
    /// file is created there and removed at once (unnamed where the system allows it).
    private static func checkFolder(of destination: String, path: String) throws(MatrixMarketError) {
        let directory = folder(of: destination)
        var info = stat()
        guard stat(directory, &info) == 0 else {
            throw MatrixMarketError(path: path, message: "the folder \(directory) does not exist (\(errnoText()))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw MatrixMarketError(path: path, message: "\(directory) is not a folder")
        }
        let probe = TemporaryFile.create(in: directory, for: baseName(of: destination))
        switch probe {
        case .success(let file): file.discard()
        case .failure(let error):
            throw MatrixMarketError(path: path, message: "cannot create a file in the folder \(directory): \(errnoText(error.code))")
        }
    }
}

/// Committing a set of outputs together.
public enum OutputFiles {
    /// Writes each target's bytes (the concatenation of its chunks). All temporary files
    /// are written and synced first: if any of that fails, none appears and nothing
    /// changes. Then in-place targets and standard output are written (every `write` and
    /// `close` checked), then the files are renamed over their destinations one by one.
    ///
    /// - Throws: `MatrixMarketError` naming the target that failed and the reason.
    public static func commit(_ items: [(target: OutputTarget, chunks: [[UInt8]])]) throws(MatrixMarketError) {
        var prepared: [(Int, TemporaryFile)] = []
        func discardAll() { for (_, file) in prepared { file.discard() } }
        // 1. Temporary files, written and synced.
        for (index, item) in items.enumerated() where item.target.kind == .file {
            let target = item.target
            func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: target.path, message: message) }
            let directory = folder(of: target.destination)
            let file: TemporaryFile
            switch TemporaryFile.create(in: directory, for: baseName(of: target.destination)) {
            case .success(let f): file = f
            case .failure(let error):
                discardAll()
                throw fail("cannot create a temporary file in \(directory): \(errnoText(error.code))")
            }
            prepared.append((index, file))
            for chunk in item.chunks {
                if let problem = writeAll(file.descriptor, chunk) {
                    discardAll()
                    throw fail("write failed: \(problem)")
                }
            }
            if fsync(file.descriptor) != 0 {
                let text = errnoText()
                discardAll()
                throw fail("fsync failed: \(text)")
            }
        }
        // 2. Standard output and in-place targets.
        for item in items where item.target.kind != .file {
            let target = item.target
            func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: target.displayName, message: message) }
            if target.kind == .standardOutput {
                for chunk in item.chunks {
                    if let problem = writeAll(1, chunk) { discardAll(); throw fail("write failed: \(problem)") }
                }
                continue
            }
            let fd = posixOpen(target.destination, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { let text = errnoText(); discardAll(); throw fail("cannot open for writing: \(text)") }
            for chunk in item.chunks {
                if let problem = writeAll(fd, chunk) { close(fd); discardAll(); throw fail("write failed: \(problem)") }
            }
            if close(fd) != 0 { let text = errnoText(); discardAll(); throw fail("close failed: \(text)") }
        }
        // 3. Names.
        for (position, (index, file)) in prepared.enumerated() {
            let target = items[index].target
            if let problem = file.commit(to: target.destination) {
                for (_, rest) in prepared[(position + 1)...] { rest.discard() }
                throw MatrixMarketError(path: target.path, message: problem)
            }
        }
    }
}

/// Removes a named temporary file of this process when SIGINT, SIGTERM, SIGHUP or SIGPIPE
/// arrives, then lets the signal act as it would have. A command-line program calls
/// `install()` once; a library embedding hyperreg keeps its own handlers.
public enum OutputSignalCleanup {
    /// Installs the handlers (idempotent). A signal the process inherited as ignored (as
    /// `nohup` leaves SIGHUP) stays ignored; the four signals are unblocked in the calling
    /// thread's mask (a parent may have left them blocked, and then a kill would wait).
    public static func install() {
        guard !installed else { return }
        installed = true
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] {
            var previous = sigaction()
            sigaction(signal, nil, &previous)
            #if canImport(Glibc)
            let ignored = unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) == 1   // SIG_IGN
            #else
            let ignored = unsafeBitCast(previous.__sigaction_u.__sa_handler, to: Int.self) == 1
            #endif
            if ignored { continue }
            sigaddset(&unblock, signal)
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = cleanupHandler
            #else
            action.__sigaction_u.__sa_handler = cleanupHandler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, nil)
        }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    nonisolated(unsafe) private static var installed = false
}

/// Named temporary files to remove on a signal: fixed slots of C strings, so that the
/// handler only reads memory and calls `unlink` (async-signal-safe).
private let cleanupSlotCount = 64
nonisolated(unsafe) private let cleanupSlots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
    let slots = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: cleanupSlotCount)
    slots.initialize(repeating: nil, count: cleanupSlotCount)
    return slots
}()

private func cleanupHandler(_ signal: Int32) {
    for i in 0 ..< cleanupSlotCount {
        if let name = cleanupSlots[i] { unlink(name) }
    }
    var action = sigaction()
    sigemptyset(&action.sa_mask)
    sigaction(signal, &action, nil)   // SIG_DFL
    raise(signal)
}

/// Registers `name` for removal on a signal; returns the slot (or -1 when all are taken).
private func registerForCleanup(_ name: String) -> Int {
    for i in 0 ..< cleanupSlotCount where cleanupSlots[i] == nil {
        cleanupSlots[i] = strdup(name)
        return i
    }
    return -1
}

private func unregisterCleanup(_ slot: Int) {
    guard slot >= 0, let name = cleanupSlots[slot] else { return }
    cleanupSlots[slot] = nil
    free(name)
}

/// A temporary file in the destination's folder: unnamed (`O_TMPFILE`) until committed,
/// where the system allows it; otherwise named `.BASE.tmp-PID-TAG` from the start.
final class TemporaryFile {
    let descriptor: Int32
    let directory: String
    let base: String
    /// The current name, when it has one.
    private(set) var name: String?
    private var slot = -1

    private init(descriptor: Int32, directory: String, base: String, name: String?) {
        self.descriptor = descriptor
        self.directory = directory
        self.base = base
        self.name = name
        if let name { slot = registerForCleanup(name) }
    }

    /// Creates one; the error code on failure. `HYPERREG_NAMED_TEMPORARY_FILES=1` in the
    /// environment skips `O_TMPFILE` (to test the named fall-back and its signal cleanup).
    static func create(in directory: String, for base: String) -> Result<TemporaryFile, CodeError> {
        #if os(Linux)
        if getenv("HYPERREG_NAMED_TEMPORARY_FILES") == nil {
            let unnamed = posixOpen(directory, oTmpFile | O_WRONLY | O_CLOEXEC, 0o666)
            if unnamed >= 0 { return .success(TemporaryFile(descriptor: unnamed, directory: directory, base: base, name: nil)) }
            // EISDIR/EOPNOTSUPP/EINVAL: no O_TMPFILE here; anything else is the folder's answer.
            if errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL { return .failure(CodeError(errno)) }
        }
        #endif
        for _ in 0 ..< 100 {
            let name = temporaryName(directory, base)
            let fd = posixOpen(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 { return .success(TemporaryFile(descriptor: fd, directory: directory, base: base, name: name)) }
            if errno != EEXIST { return .failure(CodeError(errno)) }
        }
        return .failure(CodeError(EEXIST))
    }

    /// Closes and removes it.
    func discard() {
        close(descriptor)
        if let name { unlink(name) }
        unregisterCleanup(slot)
        name = nil
    }

    /// Closes it and renames it over `destination`; the error text on failure (then it is gone).
    func commit(to destination: String) -> String? {
        #if os(Linux)
        if name == nil {
            // Give the unnamed file a name in its folder, then rename that over the destination.
            var linked: String?
            for _ in 0 ..< 100 {
                let candidate = temporaryName(directory, base)
                slot = registerForCleanup(candidate)
                if linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, candidate, AT_SYMLINK_FOLLOW) == 0
                    || linkat(descriptor, "", AT_FDCWD, candidate, atEmptyPath) == 0 {
                    linked = candidate
                    break
                }
                let code = errno
                unregisterCleanup(slot)
                if code != EEXIST {
                    close(descriptor)
                    return "cannot name the temporary file in \(directory): \(errnoText(code))"
                }
            }
            guard let linked else { close(descriptor); return "cannot name the temporary file in \(directory)" }
            name = linked
        }
        #endif
        guard let name else { return "internal error: unnamed temporary file" }
        if close(descriptor) != 0 {
            let text = errnoText()
            unlink(name)
            unregisterCleanup(slot)
            return "close failed: \(text)"
        }
        if rename(name, destination) != 0 {
            let text = errnoText()
            unlink(name)
            unregisterCleanup(slot)
            return "cannot rename the temporary file over the destination: \(text)"
        }
        unregisterCleanup(slot)
        self.name = nil
        let directoryFD = posixOpen(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
        return nil
    }
}

/// An `errno` value as an error.
struct CodeError: Error {
    let code: Int32
    init(_ code: Int32) { self.code = code }
}

#if os(Linux)
/// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), not imported as a constant.
private let oTmpFile: Int32 = 0o20000000 | O_DIRECTORY
/// `AT_EMPTY_PATH`.
private let atEmptyPath: Int32 = 0x1000
#endif

private func temporaryName(_ directory: String, _ base: String) -> String {
    let tag = String(UInt64.random(in: 0 ... UInt64.max), radix: 36)
    return (directory == "/" ? "/" : directory + "/") + ".\(base).tmp-\(getpid())-\(tag)"
}

/// The folder part of `path` (`.` when it has none).
func folder(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// The last component of `path`.
func baseName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// Writes every byte to `fd` (retrying on EINTR); returns the error text on failure.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
    bytes.withUnsafeBytes { raw -> String? in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, min(raw.count - offset, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                return errnoText()
            }
            if n == 0 { return "no progress writing" }
            offset += n
        }
        return nil
    }
}
