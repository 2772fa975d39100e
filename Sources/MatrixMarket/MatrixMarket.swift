// MatrixMarket: reading and writing Matrix Market files (see docs/matrix-market.md).
//
// Reading maps a plain file, or streams a `.gz` file, standard input (`-`), a FIFO or a
// device in 32 MiB windows of text (never whole), parses the header line by line, then
// parses the data section in fixed chunks (1 MiB or more, 512 KiB in a stream window) split at newlines, in parallel
// (threads claim chunks through `Parallelism.forEachChunk`), and builds the CSR matrix in
// parallel passes over the chunks and row buckets. The chunk list depends only on the bytes, and chunk results
// are combined in chunk order, so the result (and the first error reported) never depends
// on the thread count or on read sizes. A NUL byte and a line over 1 MiB are errors, so
// memory is bounded by the output, not the input. Every error names the file and, when it
// concerns a line, its 1-based line number.
//
// Accepted: the NIST format (`%%MatrixMarket matrix coordinate|array real|integer|pattern
// general|symmetric|skew-symmetric`), banner words in any case, `%MatrixMarket` with one
// `%`, blank lines and `%` comment lines anywhere after line 1, blanks/tabs/CRLF, no final
// newline. Rejected with a message: everything else (see the table in the doc).
//
// Writing produces `matrix array real general` or `matrix coordinate real general` with
// shortest round-trip numbers, atomically (temporary file, fsync, rename).
//
// Distributed reading (DistributedReader.swift, Partition.swift, DistributedInput.swift):
// the ranks of a row-partitioned run each parse a byte range of one file, or their own
// pre-split part, and receive their block of rows (docs/scale-out-reading.md).

import SparseCore

/// The storage layout named by the banner's second word.
public enum MatrixMarketFormat: String, Sendable, CaseIterable {
    /// Sparse: a size line `M N L`, then L lines `i j [value]` (1-based).
    case coordinate
    /// Dense: a size line `M N`, then the values one per line, column-major.
    case array
}

/// The value type named by the banner's third word.
public enum MatrixMarketField: String, Sendable, CaseIterable {
    /// One decimal floating-point value per entry.
    case real
    /// One decimal integer per entry (read as `Double`).
    case integer
    /// Two values per entry (recognised by `readHeader`, rejected by the data readers).
    case complex
    /// No value: every listed entry is 1 (coordinate format only).
    case pattern
}

/// The symmetry named by the banner's fourth word.
public enum MatrixMarketSymmetry: String, Sendable, CaseIterable {
    /// Every entry is stored.
    case general
    /// Only the lower triangle is stored (an upper-triangle entry is mirrored the same way).
    case symmetric
    /// Only the strict lower triangle is stored; the mirror of `v` is `-v`.
    case skewSymmetric = "skew-symmetric"
    /// Complex Hermitian (only legal with the `complex` field).
    case hermitian
}

/// The banner, comments and size line of a Matrix Market file.
public struct MatrixMarketHeader: Sendable, Equatable {
    /// `coordinate` or `array`.
    public var format: MatrixMarketFormat
    /// `real`, `integer`, `complex` or `pattern`.
    public var field: MatrixMarketField
    /// `general`, `symmetric`, `skew-symmetric` or `hermitian`.
    public var symmetry: MatrixMarketSymmetry
    /// M, the number of rows.
    public var rowCount: Int
    /// N, the number of columns.
    public var columnCount: Int
    /// L for coordinate files; for array files the number of stored values
    /// (M*N, n(n+1)/2 for symmetric/hermitian, n(n-1)/2 for skew-symmetric).
    public var storedEntryCount: Int
    /// The comment lines between the banner and the size line, without the leading `%`.
    public var comments: [String]

    /// Creates a header value.
    public init(format: MatrixMarketFormat, field: MatrixMarketField, symmetry: MatrixMarketSymmetry,
                rowCount: Int, columnCount: Int, storedEntryCount: Int, comments: [String] = []) {
        self.format = format
        self.field = field
        self.symmetry = symmetry
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.storedEntryCount = storedEntryCount
        self.comments = comments
    }
}

/// A reading or writing failure. Its description is `PATH:LINE: message` when the
/// problem is on a line (1-based), else `PATH: message`. Standard input and output are
/// named `<stdin>` and `<stdout>`.
public struct MatrixMarketError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file concerned, as given by the caller (`<stdin>`/`<stdout>` for `-`).
    public let path: String
    /// The 1-based line number, when the error concerns a line.
    public let line: Int?
    /// What is wrong, in words.
    public let message: String

    /// Creates an error. Control characters in `message` (quoted bytes of a binary or
    /// damaged file) are written as `\xNN`, so the message is safe to print on a terminal.
    public init(path: String, line: Int? = nil, message: String) {
        self.path = path
        self.line = line
        self.message = escapingControlCharacters(message)
    }

    public var description: String {
        // The path is user text too (a file name may hold control characters).
        let path = escapingControlCharacters(self.path)
        if let line { return "\(path):\(line): \(message)" }
        return "\(path): \(message)"
    }
}

/// Options for `MatrixMarket.readMatrix` and `MatrixMarket.readVector`.
public struct MatrixMarketReadOptions: Sendable {
    /// Accept `nan`, `inf`, `infinity` (any case, optional sign) and decimal values that
    /// overflow a double (read as infinity). Off by default: such values are errors.
    public var allowNonFinite: Bool = false
    /// Refuse, before allocating, a file whose size line declares storage (entries and
    /// row offsets, or the vector) beyond this many bytes. nil: the machine's physical
    /// memory, which is always a limit.
    public var memoryLimit: Int? = nil
    /// Bytes of text read and parsed at a time from a stream (a `.gz` file, standard input, a
    /// FIFO, a device); default 32 MiB. A window ends at the last newline before each
    /// multiple of this many bytes of the data section, so the result and the error reported
    /// never depend on it; memory does (two windows of text are held). Mapped files ignore it.
    public var streamWindowBytes: Int = 32 << 20

    /// Creates options; by default non-finite values are rejected and the memory limit is
    /// the physical memory.
    public init(allowNonFinite: Bool = false, memoryLimit: Int? = nil) {
        self.allowNonFinite = allowNonFinite
        self.memoryLimit = memoryLimit
    }
}

/// Reading and writing Matrix Market files.
///
/// Paths ending in `.gz` are decompressed with zlib; `-` reads standard input (plain or
/// gzip, detected from the bytes) or writes standard output.
///
/// Memory is bounded by the output, not the input: a compressed file, standard input, a FIFO
/// or a device is read and parsed 32 MiB of text at a time, never whole; a line longer than
/// 1 MiB (1 048 576 bytes before its newline) and a NUL byte anywhere are errors naming the
/// line.
public enum MatrixMarket {
    /// Reads the header as `readHeader(from:)` does, then makes the checks `readMatrix`
    /// (`asVector` false) or `readVector` (true) make before reading any data, with the
    /// same errors: a complex field, a vector of another shape, indices beyond Int32, and
    /// declared storage beyond memory, the address-space limit or `options.memoryLimit`.
    /// A caller that reads several files can so report each file's own header problem
    /// before comparing their shapes, without reading any data.
    ///
    /// - Throws: `MatrixMarketError` naming the file and the size line.
    public static func checkHeader(from path: String, asVector: Bool = false, options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> MatrixMarketHeader {
        try Reader.checkHeader(path: path, purpose: asVector ? .vector : .matrix, options: options)
    }

    /// Reads only the banner, comments and size line (and decompresses or reads no
    /// further than that). A `complex` header is returned, not rejected.
    ///
    /// - Parameter path: a file path, a `.gz` path, or `-` for standard input.
    /// - Throws: `MatrixMarketError` for an unreadable file or a malformed or illegal header.
    public static func readHeader(from path: String) throws(MatrixMarketError) -> MatrixMarketHeader {
        try Reader.readHeader(path: path)
    }

    /// Reads any legal real, integer or pattern file as a CSR matrix: symmetric and
    /// skew-symmetric storage expanded, pattern entries read as 1.0, duplicates summed
    /// (in file order), explicit zeros kept; array files become a CSR matrix of their
    /// nonzero values.
    ///
    /// - Parameters:
    ///   - path: a file path, a `.gz` path, or `-` for standard input.
    ///   - options: whether to accept non-finite values.
    /// - Returns: the header as written in the file, and the matrix.
    /// - Throws: `MatrixMarketError` naming the file and line of the first problem.
    public static func readMatrix(from path: String, options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> (header: MatrixMarketHeader, matrix: CSRMatrix) {
        try Reader.readMatrix(path: path, options: options)
    }

    /// Reads a vector: an `n x 1` or `1 x n` file, either `array` or `coordinate`
    /// (missing entries are 0, duplicates summed).
    ///
    /// - Parameters:
    ///   - path: a file path, a `.gz` path, or `-` for standard input.
    ///   - options: whether to accept non-finite values.
    /// - Throws: `MatrixMarketError`; a file of any other shape is an error naming the shape.
    public static func readVector(from path: String, options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> [Double] {
        try Reader.readVector(path: path, options: options)
    }

    /// Reads a matrix from bytes already in memory (plain text, not gzip), as
    /// `readMatrix(from:options:)` does from a file; errors name `name`.
    ///
    /// - Parameters:
    ///   - bytes: the whole file's bytes (copied once).
    ///   - name: what errors call the input, e.g. a URL or a file name.
    ///   - options: whether to accept non-finite values.
    /// - Throws: `MatrixMarketError` naming `name` and the line of the first problem.
    public static func readMatrix(bytes: UnsafeRawBufferPointer, name: String, options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> (header: MatrixMarketHeader, matrix: CSRMatrix) {
        try Reader.readMatrix(input: InputBytes(copying: bytes, name: name), name: name, options: options)
    }

    /// Reads a vector from bytes already in memory, as `readVector(from:options:)` does
    /// from a file; errors name `name`.
    ///
    /// - Throws: `MatrixMarketError` naming `name` and the line of the first problem.
    public static func readVector(bytes: UnsafeRawBufferPointer, name: String, options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> [Double] {
        try Reader.readVector(input: InputBytes(copying: bytes, name: name), name: name, options: options)
    }

    /// Writes `matrix array real general`: the values column-major, one per line, as
    /// shortest round-trip decimals (reading back gives identical bits; non-finite values
    /// are written `nan`, `inf`, `-inf`, readable with `allowNonFinite`). Atomic.
    ///
    /// - Parameters:
    ///   - columnMajorValues: `rowCount * columnCount` values, column by column.
    ///   - rowCount: M.
    ///   - columnCount: N.
    ///   - path: destination, or `-` for standard output.
    ///   - comments: one `%` line each (a comment containing newlines gives several lines).
    /// - Throws: `MatrixMarketError` on a count mismatch or an I/O failure (then nothing at
    ///   `path` has changed).
    public static func writeArray(_ columnMajorValues: [Double], rowCount: Int, columnCount: Int, to path: String, comments: [String] = []) throws(MatrixMarketError) {
        try Writer.writeArray(columnMajorValues, rowCount: rowCount, columnCount: columnCount, to: path, comments: comments)
    }

    /// The text `writeArray` would write, in chunks whose concatenation is the file (for
    /// `OutputFiles.commit`, which writes several outputs together).
    ///
    /// - Throws: `MatrixMarketError` naming `name` on a count mismatch.
    public static func arrayText(_ columnMajorValues: [Double], rowCount: Int, columnCount: Int, name: String, comments: [String] = []) throws(MatrixMarketError) -> [[UInt8]] {
        try Writer.arrayText(columnMajorValues, rowCount: rowCount, columnCount: columnCount, name: name, comments: comments)
    }

    /// The text `writeCoordinate` would write, in chunks whose concatenation is the file.
    public static func coordinateText(_ matrix: CSRMatrix, comments: [String] = []) -> [[UInt8]] {
        Writer.coordinateText(matrix, comments: comments)
    }

    /// Writes `matrix coordinate real general`: `M N nnz`, then one `i j value` line per
    /// stored entry (1-based, row by row), shortest round-trip values. Atomic.
    ///
    /// - Parameters:
    ///   - matrix: the matrix (explicit zeros are written).
    ///   - path: destination, or `-` for standard output.
    ///   - comments: one `%` line each.
    /// - Throws: `MatrixMarketError` on an I/O failure (then nothing at `path` has changed).
    public static func writeCoordinate(_ matrix: CSRMatrix, to path: String, comments: [String] = []) throws(MatrixMarketError) {
        try Writer.writeCoordinate(matrix, to: path, comments: comments)
    }
}

/// `text` with control characters replaced by `\xNN`: C0 (newline and tab included: an
/// error message is one line), DEL, and C1 (U+0080-U+009F, e.g. U+009B, which terminals
/// take as CSI, the start of an escape sequence, when it arrives as UTF-8 bytes C2 9B).
/// A C1 character is written by its code point (`\x9B`). The CLI prints every message and
/// user-given file name through this function.
public func escapingControlCharacters(_ text: String) -> String {
    func isControl(_ s: Unicode.Scalar) -> Bool { s.value < 0x20 || (s.value >= 0x7F && s.value <= 0x9F) }
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = String.UnicodeScalarView()
    let hex = Array("0123456789ABCDEF".unicodeScalars)
    for scalar in text.unicodeScalars {
        if isControl(scalar) {
            out.append(contentsOf: ["\\", "x", hex[Int(scalar.value >> 4)], hex[Int(scalar.value & 15)]])
        } else {
            out.append(scalar)
        }
    }
    return String(out)
}
