// Getting at a file's bytes: mmap for plain regular files; a zlib stream (`gzread`) for
// `.gz` files, standard input (`-`), FIFOs and devices (zlib passes plain bytes through
// unchanged and decompresses gzip bytes), read a window at a time by the parser, never
// whole. A truncated or corrupt gzip stream is an error.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// The bytes of a whole input, mapped or in one heap block; released on deinit.
final class InputBytes: @unchecked Sendable {
    /// First byte (nil when empty).
    let base: UnsafeMutablePointer<UInt8>?
    /// Number of bytes.
    let count: Int
    /// True when the bytes are a read-only private mapping of a file (pages can be dropped
    /// with `MADV_DONTNEED` and are read again from the file if touched).
    let mapped: Bool

    init(base: UnsafeMutablePointer<UInt8>?, count: Int, mapped: Bool) {
        self.base = base
        self.count = count
        self.mapped = mapped
    }

    /// A heap copy of `bytes`.
    convenience init(copying bytes: UnsafeRawBufferPointer, name: String) throws(MatrixMarketError) {
        guard bytes.count > 0, let source = bytes.baseAddress else {
            self.init(base: nil, count: 0, mapped: false)
            return
        }
        guard let copy = malloc(bytes.count) else { throw MatrixMarketError(path: name, message: "out of memory") }
        memcpy(copy, source, bytes.count)
        self.init(base: copy.assumingMemoryBound(to: UInt8.self), count: bytes.count, mapped: false)
    }

    deinit {
        guard let base else { return }
        if mapped { munmap(base, count) } else { free(base) }
    }

    /// The bytes as a buffer.
    var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }
}

/// A heap byte buffer that grows by doubling (`realloc`, which can remap in place).
struct GrowableBytes {
    var base: UnsafeMutablePointer<UInt8>?
    var count = 0
    var capacity = 0

    /// Makes room for at least `extra` more bytes; false when out of memory.
    mutating func reserve(extra: Int) -> Bool {
        if capacity - count >= extra { return true }
        let wanted = max(count + extra, capacity * 2, 1 << 16)
        guard let grown = realloc(base, wanted) else { return false }
        base = grown.assumingMemoryBound(to: UInt8.self)
        capacity = wanted
        return true
    }

    /// Frees the bytes.
    mutating func discard() {
        free(base)
        base = nil
        count = 0
        capacity = 0
    }
}

/// The text of `errno`.
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// `open(2)` (the name is shadowed inside `InputSource`).
func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}

/// The name errors use for `path`.
func displayName(_ path: String) -> String { path == "-" ? "<stdin>" : path }

/// An opened input: either all bytes (mapped) or a zlib stream to pull from.
enum InputSource {
    case bytes(InputBytes)
    case stream(ZStream)

    /// Opens `path` (`-` is standard input).
    static func open(_ path: String) throws(MatrixMarketError) -> InputSource {
        let name = displayName(path)
        func fail(_ message: String) -> MatrixMarketError { MatrixMarketError(path: name, message: message) }
        if path == "-" {
            let fd = dup(0)
            guard fd >= 0 else { throw fail("cannot read standard input: \(errnoText())") }
            return .stream(try ZStream(fd: fd, name: name))
        }
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fail("cannot open: \(errnoText())") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let text = errnoText()
            close(fd)
            throw fail("cannot open: \(text)")
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFDIR {
            close(fd)
            throw fail("cannot read: is a directory")
        }
        let size = Int(info.st_size)
        if path.hasSuffix(".gz") || path.hasSuffix(".GZ") {
            return .stream(try ZStream(fd: fd, name: name))
        }
        if kind == S_IFREG {
            if size == 0 {
                close(fd)
                return .bytes(InputBytes(base: nil, count: 0, mapped: false))
            }
            let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
                // No room to map it (e.g. under `ulimit -v`): read it as a stream instead.
                if errno == ENOMEM { return .stream(try ZStream(fd: fd, name: name)) }
                let text = errnoText()
                close(fd)
                throw fail("cannot map the file: \(text)")
            }
            close(fd)
            _ = madvise(address, size, MADV_SEQUENTIAL)
            return .bytes(InputBytes(base: address.assumingMemoryBound(to: UInt8.self), count: size, mapped: true))
        }
        // A pipe, FIFO or device: stream it (zlib copies non-gzip bytes unchanged).
        return .stream(try ZStream(fd: fd, name: name))
    }
}

/// A zlib read stream over a file descriptor (owned), with errors naming the file.
final class ZStream {
    private var file: gzFile?
    private let name: String
    /// Bytes delivered so far (decompressed), for error messages.
    private var delivered = 0

    init(fd: Int32, name: String) throws(MatrixMarketError) {
        self.name = name
        guard let file = gzdopen(fd, "rb") else {
            close(fd)
            throw MatrixMarketError(path: name, message: "cannot open the zlib stream: out of memory")
        }
        _ = gzbuffer(file, 1 << 18)
        self.file = file
    }

    deinit {
        if let file { _ = gzclose(file) }
    }

    /// Appends up to `limit` bytes to `bytes`; returns the count (0 at the end).
    /// At the end, checks that the stream was complete.
    func read(into bytes: inout GrowableBytes, limit: Int) throws(MatrixMarketError) -> Int {
        guard bytes.reserve(extra: limit) else {
            throw MatrixMarketError(path: name, message: "out of memory after reading \(bytes.count) bytes")
        }
        let got = try read(into: bytes.base! + bytes.count, count: limit)
        bytes.count += got
        return got
    }

    /// Reads `count` bytes into `destination`, fewer only at the end of the input; returns
    /// how many. At the end, checks that the stream was complete.
    func read(into destination: UnsafeMutablePointer<UInt8>, count: Int) throws(MatrixMarketError) -> Int {
        var total = 0
        while total < count, let file {
            let asked = UInt32(min(count - total, 1 << 30))
            let got = gzread(file, destination + total, asked)
            if got < 0 { throw streamError(decompressed: delivered) }
            if got == 0 {
                var code: Int32 = Z_OK
                _ = gzerror(file, &code)
                if code != Z_OK { throw streamError(decompressed: delivered) }
                let closing = gzclose(file)
                self.file = nil
                if closing != Z_OK { throw closeError(closing, decompressed: delivered) }
                break
            }
            total += Int(got)
            delivered += Int(got)
        }
        return total
    }

    private func streamError(decompressed: Int) -> MatrixMarketError {
        var code: Int32 = Z_OK
        var text = file.flatMap { gzerror($0, &code) }.map { String(cString: $0) } ?? "unknown error"
        // zlib prefixes the name it was given, here "<fd:N>: "; the error already names the file.
        if text.hasPrefix("<fd:"), let colon = text.firstIndex(of: ">") {
            text = String(text[text.index(after: colon)...].drop { $0 == ":" || $0 == " " })
        }
        switch code {
        case Z_BUF_ERROR:
            return MatrixMarketError(path: name, message: "truncated gzip stream: unexpected end of compressed data after \(decompressed) decompressed bytes")
        case Z_ERRNO:
            return MatrixMarketError(path: name, message: "read failed: \(errnoText())")
        case Z_DATA_ERROR:
            return MatrixMarketError(path: name, message: "corrupt gzip stream: \(text)")
        default:
            return MatrixMarketError(path: name, message: "gzip stream error: \(text)")
        }
    }

    private func closeError(_ code: Int32, decompressed: Int) -> MatrixMarketError {
        if code == Z_BUF_ERROR {
            return MatrixMarketError(path: name, message: "truncated gzip stream: unexpected end of compressed data after \(decompressed) decompressed bytes")
        }
        return MatrixMarketError(path: name, message: "gzip stream error on close (zlib code \(code))")
    }
}
