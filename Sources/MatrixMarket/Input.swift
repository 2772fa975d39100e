// Getting a file's bytes into memory: mmap for plain regular files, zlib (`gzread`) for
// `.gz` files, and `gzdopen` on standard input for `-` (zlib passes plain bytes through
// unchanged and decompresses gzip bytes). A truncated or corrupt gzip stream is an error.

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

    /// Hands the bytes to an `InputBytes` (which frees them).
    mutating func finish() -> InputBytes {
        let result = InputBytes(base: count == 0 ? nil : base, count: count, mapped: false)
        if count == 0 { free(base) }
        base = nil
        count = 0
        capacity = 0
        return result
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
            return .stream(try ZStream(fd: fd, name: name, sizeHint: 0))
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
            // The gzip trailer's ISIZE (uncompressed size mod 2^32) sizes the buffer.
            var hint = 0
            if kind == S_IFREG && size >= 18 {
                var trailer: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
                if pread(fd, &trailer, 4, off_t(size - 4)) == 4 {
                    let isize = Int(trailer.0) | Int(trailer.1) << 8 | Int(trailer.2) << 16 | Int(trailer.3) << 24
                    // A damaged or hostile trailer can claim gigabytes for a few bytes:
                    // deflate expands at most 1032:1, so never trust more than that.
                    hint = isize >= size / 2 ? min(isize + 1, size * 1032 + (1 << 16)) : size * 4
                }
            }
            return .stream(try ZStream(fd: fd, name: name, sizeHint: hint))
        }
        if kind == S_IFREG {
            if size == 0 {
                close(fd)
                return .bytes(InputBytes(base: nil, count: 0, mapped: false))
            }
            let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            close(fd)
            guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else { throw fail("cannot map the file: \(errnoText())") }
            _ = madvise(address, size, MADV_SEQUENTIAL)
            return .bytes(InputBytes(base: address.assumingMemoryBound(to: UInt8.self), count: size, mapped: true))
        }
        // A pipe, FIFO or device: stream it (zlib copies non-gzip bytes unchanged).
        return .stream(try ZStream(fd: fd, name: name, sizeHint: 0))
    }

    /// Every byte of the input.
    static func readAll(_ path: String) throws(MatrixMarketError) -> InputBytes {
        switch try open(path) {
        case .bytes(let bytes): return bytes
        case .stream(let stream): return try stream.readToEnd()
        }
    }
}

/// A zlib read stream over a file descriptor (owned), with errors naming the file.
final class ZStream {
    private var file: gzFile?
    private let name: String
    private let sizeHint: Int

    init(fd: Int32, name: String, sizeHint: Int) throws(MatrixMarketError) {
        self.name = name
        self.sizeHint = sizeHint
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
        guard let file else { return 0 }
        guard bytes.reserve(extra: limit) else {
            throw MatrixMarketError(path: name, message: "out of memory after reading \(bytes.count) bytes")
        }
        let asked = UInt32(min(limit, 1 << 30))
        let got = gzread(file, bytes.base! + bytes.count, asked)
        if got < 0 { throw streamError(decompressed: bytes.count) }
        if got == 0 {
            var code: Int32 = Z_OK
            _ = gzerror(file, &code)
            if code != Z_OK { throw streamError(decompressed: bytes.count) }
            let closing = gzclose(file)
            self.file = nil
            if closing != Z_OK { throw closeError(closing, decompressed: bytes.count) }
            return 0
        }
        bytes.count += Int(got)
        return Int(got)
    }

    /// Reads the rest of the stream into one buffer.
    func readToEnd() throws(MatrixMarketError) -> InputBytes {
        var bytes = GrowableBytes()
        if sizeHint > 0 && !bytes.reserve(extra: sizeHint) {
            throw MatrixMarketError(path: name, message: "out of memory reserving \(sizeHint) bytes")
        }
        do {
            while true {
                let room = max(bytes.capacity - bytes.count, 1 << 16)
                if try read(into: &bytes, limit: room) == 0 { break }
            }
        } catch {
            bytes.discard()
            throw error
        }
        return bytes.finish()
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
