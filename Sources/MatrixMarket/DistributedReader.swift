// Distributed reading (issue 17; maintainers' notes in docs/scale-out-reading.md).
//
// Every rank of a row-partitioned run calls the same reader with its `Communicator`. For a
// plain (mapped) file, the data section is cut into the chunk list a whole-file read would
// use (sized so that every rank gets a share), rank r parses chunks
// `[C r / K, C (r + 1) / K)` of it, the per-rank entry and line counts are gathered, and each
// rank resolves its own chunks with the counts of the ranks before it, so the first problem
// in file order is reported with the message and line number the whole-file reader gives.
// Entries are then routed to the rank owning their row (`RowDistribution.owner`) with one
// all-to-all exchange, in file order per destination, and each rank assembles its block
// with the whole-file assembler: the same duplicate sums and mirrored entries, hence the same
// bits. A `.gz` file, standard input, a FIFO or device, and an `array` matrix are read whole
// by rank 0 and scattered by rows. Errors are agreed (`Communicator.firstError`) at fixed
// points, so every rank throws the same error and none waits in a collective.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SparseCore

/// A rank's share of a matrix read collectively: its contiguous block of rows (rank r holds
/// `RowDistribution.block(rows:ranks:rank:)`), numbered locally from 0, with every column.
public struct MatrixBlock: Sendable, Equatable {
    /// The block: `rowCount` local rows, the global column count.
    public let matrix: CSRMatrix
    /// The global index of the block's first row.
    public let rowOffset: Int
    /// Rows of the whole matrix.
    public let globalRowCount: Int
    /// Stored entries of the whole matrix (after expansion and duplicate sums, as `nonzeroCount`).
    public let globalNonzeroCount: Int

    /// Creates a block.
    public init(matrix: CSRMatrix, rowOffset: Int, globalRowCount: Int, globalNonzeroCount: Int) {
        self.matrix = matrix
        self.rowOffset = rowOffset
        self.globalRowCount = globalRowCount
        self.globalNonzeroCount = globalNonzeroCount
    }
}

/// A rank's slice of a vector read collectively: entries `offset ..< offset + values.count`.
public struct VectorSlice: Sendable, Equatable {
    /// This rank's entries.
    public let values: [Double]
    /// The global index of `values[0]`.
    public let offset: Int
    /// Entries of the whole vector.
    public let globalCount: Int

    /// Creates a slice.
    public init(values: [Double], offset: Int, globalCount: Int) {
        self.values = values
        self.offset = offset
        self.globalCount = globalCount
    }
}

extension MatrixMarket {
    /// Reads this rank's row block of a matrix file; called collectively (every rank, same
    /// `path` and `options`). Accepts what `readMatrix(from:options:)` accepts, with the same
    /// errors (file, 1-based line, message) and, restricted to the block's rows, the same
    /// bits: symmetric and skew-symmetric storage expanded, duplicates summed in file order,
    /// explicit zeros kept.
    ///
    /// A plain file is split: each rank maps it and parses only its byte range of the data
    /// section (whole lines), then the entries go to the ranks owning their rows (one
    /// all-to-all exchange). A `.gz` file, standard input (`-`), a FIFO or device, and an
    /// `array` file are read whole by rank 0 (as `readMatrix` does) and their rows scattered,
    /// so rank 0 then holds the whole matrix for a while. The memory check of the size line
    /// compares this rank's share (1/K of the declared storage) with the limit.
    ///
    /// - Throws: `MatrixMarketError`; when any rank finds a problem, every rank throws the
    ///   same error (the first problem in file order).
    public static func readMatrixBlock(from path: String, communicator: any Communicator,
                                       options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> MatrixBlock {
        try DistributedReader.readMatrix(path: path, comm: communicator, options: options)
    }

    /// Reads this rank's slice of a vector file (n x 1 or 1 x n, `array` or `coordinate`, as
    /// `readVector(from:options:)` accepts); called collectively. Rank r receives entries
    /// `RowDistribution.block(rows: n, ranks: K, rank: r)`, with the whole-file reader's bits
    /// (coordinate duplicates summed in file order, missing entries 0). A plain file is split
    /// by byte ranges as for `readMatrixBlock`; a `.gz` file, standard input, a FIFO or device
    /// is read whole by rank 0 and scattered.
    ///
    /// - Throws: `MatrixMarketError`, the same on every rank.
    public static func readVectorSlice(from path: String, communicator: any Communicator,
                                       options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> VectorSlice {
        try DistributedReader.readVector(path: path, comm: communicator, options: options)
    }
}

extension Communicator {
    /// Throws, on every rank, the first (lowest-rank) error any rank passes; returns when none
    /// has one. Every rank must call it at the same point.
    func agree(_ error: MatrixMarketError?) throws(MatrixMarketError) {
        if size == 1 {
            if let error { throw error }
            return
        }
        let text = error.map { e -> String in "\(e.line ?? 0)\n\(e.path.utf8.count)\n\(e.path)\(e.message)" }
        guard let (_, message) = firstError(text) else { return }
        throw decodeError(message)
    }

    /// Runs `body` and agrees on its error (see `agree`).
    func agreeing<R>(_ body: () throws(MatrixMarketError) -> R) throws(MatrixMarketError) -> R {
        var result: R?
        var failure: MatrixMarketError?
        do { result = try body() } catch { failure = error }
        try agree(failure)
        return result!
    }
}

/// The inverse of the encoding in `Communicator.agree`.
private func decodeError(_ text: String) -> MatrixMarketError {
    let bytes = Array(text.utf8)
    var i = 0
    func number() -> Int {
        var v = 0
        while i < bytes.count, bytes[i] != 0x0A { v = v * 10 + Int(bytes[i] &- 0x30); i += 1 }
        i += 1
        return v
    }
    let line = number(), pathLength = number()
    let path = String(decoding: bytes[i ..< min(bytes.count, i + pathLength)], as: UTF8.self)
    let message = String(decoding: bytes[min(bytes.count, i + pathLength)...], as: UTF8.self)
    return MatrixMarketError(path: path, line: line > 0 ? line : nil, message: message)
}

/// A byte message under construction (little-endian words, then raw arrays).
struct MessageWriter {
    var bytes: [UInt8] = []

    mutating func append(_ value: Int) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append<T>(contentsOf values: UnsafeBufferPointer<T>) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(values))
    }
}

/// Reads what a `MessageWriter` wrote, in the same order.
struct MessageReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func int() -> Int {
        var value = 0
        withUnsafeMutableBytes(of: &value) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position ..< position + 8])) }
        }
        position += 8
        return Int(littleEndian: value)
    }

    mutating func array<T>(_ type: T.Type, count: Int) -> [T] {
        let length = count * MemoryLayout<T>.stride
        defer { position += length }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position ..< position + length]))
            }
            initialized = count
        }
    }
}

enum DistributedReader {
    /// How a file is read: split by byte ranges, or whole by rank 0 and scattered.
    enum Mode: UInt8 { case ranges = 1, whole = 2 }

    /// Rank 0's choice, broadcast: byte ranges for a plain regular file (a coordinate one,
    /// for a matrix), else whole by rank 0 (which then reports any problem of the file).
    static func mode(path: String, purpose: Reader.Purpose, comm: any Communicator) -> Mode {
        var bytes: [UInt8] = []
        if comm.rank == 0 {
            bytes = [chooseMode(path: path, purpose: purpose).rawValue]
        }
        if comm.size > 1 { comm.broadcast(bytes: &bytes, from: 0) }
        return bytes.first.flatMap(Mode.init(rawValue:)) ?? .whole
    }

    private static func chooseMode(path: String, purpose: Reader.Purpose) -> Mode {
        if path == "-" || path.hasSuffix(".gz") || path.hasSuffix(".GZ") { return .whole }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else { return .whole }
        if purpose == .matrix {
            guard let header = try? Reader.readHeaderInfo(path: path), header.header.format == .coordinate else { return .whole }
        }
        return .ranges
    }

    // MARK: Matrix

    static func readMatrix(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> MatrixBlock {
        switch mode(path: path, purpose: .matrix, comm: comm) {
        case .whole: return try scatterWholeMatrix(path: path, comm: comm, options: options)
        case .ranges: return try readMatrixRanges(path: path, comm: comm, options: options)
        }
    }

    /// Rank 0 reads the whole matrix; each rank receives its rows.
    private static func scatterWholeMatrix(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> MatrixBlock {
        let K = comm.size
        let whole: CSRMatrix? = try comm.agreeing { () throws(MatrixMarketError) -> CSRMatrix? in
            comm.rank == 0 ? try Reader.readMatrix(path: path, options: options).matrix : nil
        }
        if K == 1, let a = whole {
            return MatrixBlock(matrix: a, rowOffset: 0, globalRowCount: a.rowCount, globalNonzeroCount: a.nonzeroCount)
        }
        var outgoing = [[UInt8]](repeating: [], count: K)
        if let a = whole {
            for r in 1 ..< K {
                let rows = RowDistribution.block(rows: a.rowCount, ranks: K, rank: r)
                let first = a.rowOffsets[rows.lowerBound], last = a.rowOffsets[rows.upperBound]
                var message = MessageWriter()
                for value in [a.rowCount, a.columnCount, a.nonzeroCount, rows.count, last - first] { message.append(value) }
                var offsets = [Int](a.rowOffsets[rows.lowerBound ... rows.upperBound])
                for k in offsets.indices { offsets[k] -= first }
                offsets.withUnsafeBufferPointer { message.append(contentsOf: $0) }
                a.columnIndices.withUnsafeBufferPointer { message.append(contentsOf: UnsafeBufferPointer(rebasing: $0[first ..< last])) }
                a.values.withUnsafeBufferPointer { message.append(contentsOf: UnsafeBufferPointer(rebasing: $0[first ..< last])) }
                outgoing[r] = message.bytes
            }
        }
        let received = comm.exchange(outgoing)
        outgoing = []
        if let a = whole {
            // Rank 0 keeps its rows without a message.
            let rows = RowDistribution.block(rows: a.rowCount, ranks: K, rank: 0)
            let last = a.rowOffsets[rows.upperBound]
            let block = CSRMatrix(uncheckedRowCount: rows.count, columnCount: a.columnCount, rowOffsets: Array(a.rowOffsets[rows.lowerBound ... rows.upperBound]),
                                  columnIndices: Array(a.columnIndices[..<last]), values: Array(a.values[..<last]))
            return MatrixBlock(matrix: block, rowOffset: 0, globalRowCount: a.rowCount, globalNonzeroCount: a.nonzeroCount)
        }
        var reader = MessageReader(received[0])
        let n = reader.int(), d = reader.int(), nnz = reader.int(), localRows = reader.int(), localEntries = reader.int()
        let offsets = reader.array(Int.self, count: localRows + 1)
        let columns = reader.array(Int32.self, count: localEntries)
        let values = reader.array(Double.self, count: localEntries)
        let block = CSRMatrix(uncheckedRowCount: localRows, columnCount: d, rowOffsets: offsets, columnIndices: columns, values: values)
        return MatrixBlock(matrix: block, rowOffset: RowDistribution.block(rows: n, ranks: K, rank: comm.rank).lowerBound,
                           globalRowCount: n, globalNonzeroCount: nnz)
    }

    private static func readMatrixRanges(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> MatrixBlock {
        let K = comm.size, rank = comm.rank
        let section = try RankSection.parse(path: path, purpose: .matrix, comm: comm, options: options)
        let h = section.info.header
        let n = h.rowCount
        let mine = RowDistribution.block(rows: n, ranks: K, rank: rank)
        let block: CSRMatrix
        if K == 1 {
            // One rank: the whole-file assembly of the parsed chunks.
            let parsed = ParsedData(chunks: section.outputs, entryCount: section.entryCount)
            section.release()
            block = Reader.assembleCoordinate(parsed, h)
        } else {
            block = routeAndAssemble(section, h, comm)
        }
        let globalNonzeros = comm.sum(block.nonzeroCount)
        return MatrixBlock(matrix: block, rowOffset: mine.lowerBound, globalRowCount: n, globalNonzeroCount: globalNonzeros)
    }

    /// Sends each parsed entry (and its mirror) to the rank owning its row and assembles this
    /// rank's block from what arrives. Entries are counted per (chunk, destination), then
    /// written in parallel, chunks in file order: to a message per other rank (`m` values,
    /// then `m` local rows, then `m` columns) or, for this rank's own rows, straight into a
    /// chunk of the assembler. The assembler receives the senders' entries in rank order, this
    /// rank's own in its place: file order for every row, hence the whole-file sums.
    private static func routeAndAssemble(_ section: RankSection, _ h: MatrixMarketHeader, _ comm: any Communicator) -> CSRMatrix {
        let K = comm.size, rank = comm.rank
        let n = h.rowCount
        let mirror = h.symmetry != .general, negate = h.symmetry == .skewSymmetric
        let mine = RowDistribution.block(rows: n, ranks: K, rank: rank)
        let chunks = section.outputs
        let chunkCount = chunks.count
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, chunkCount * K))
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        let sharedCounts = SharedBuffer(counts)
        forEachChunkClaimed(chunkCount) { c in
            let chunk = chunks[c]
            guard let rows = chunk.rows, let columns = chunk.columns else { return }
            let count = sharedCounts.buffer.baseAddress! + c * K
            var lastRow = -1, lastOwner = 0
            for k in 0 ..< chunk.count {
                let r = Int(rows[k]), j = Int(columns[k])
                if r != lastRow { lastRow = r; lastOwner = RowDistribution.owner(ofRow: r, rows: n, ranks: K) }
                count[lastOwner] += 1
                if mirror && r != j { count[RowDistribution.owner(ofRow: j, rows: n, ranks: K)] += 1 }
            }
        }
        // Message cursors (prefix sums over chunks); this rank's own entries get one chunk
        // output per parsed chunk, of the exact size.
        var totals = [Int](repeating: 0, count: K)
        let localParts = (0 ..< chunkCount).map { _ in ChunkOutput() }
        for c in 0 ..< chunkCount {
            for d in 0 ..< K {
                let m = counts[c * K + d]
                if d == rank {
                    if m > 0, !localParts[c].grow(to: m, indices: true, values: true) { fatalError("out of memory routing a distributed read") }
                    localParts[c].count = m
                    counts[c * K + d] = 0
                } else {
                    counts[c * K + d] = totals[d]
                    totals[d] += m
                }
            }
        }
        var outgoing = totals.map { [UInt8](repeating: 0, count: 16 * $0) }
        let offsetsOfRank = (0 ..< K).map { RowDistribution.block(rows: n, ranks: K, rank: $0).lowerBound }
        withBuffers(&outgoing) { shared in
            let sizes = totals
            forEachChunkClaimed(chunkCount) { c in
                let chunk = chunks[c]
                guard let rows = chunk.rows, let columns = chunk.columns else { return }
                let cursor = sharedCounts.buffer.baseAddress! + c * K
                let chunkValues = chunk.values
                let local = localParts[c]
                @inline(__always) func put(_ row: Int, _ d: Int, _ column: Int32, _ value: Double) {
                    let slot = cursor[d]
                    cursor[d] = slot + 1
                    let localRow = Int32(truncatingIfNeeded: row - offsetsOfRank[d])
                    if d == rank {
                        local.values![slot] = value
                        local.rows![slot] = localRow
                        local.columns![slot] = column
                        return
                    }
                    let m = sizes[d], base = shared.buffer[d]
                    (base.assumingMemoryBound(to: Double.self) + slot).pointee = value
                    (base.advanced(by: 8 * m).assumingMemoryBound(to: Int32.self) + slot).pointee = localRow
                    (base.advanced(by: 12 * m).assumingMemoryBound(to: Int32.self) + slot).pointee = column
                }
                var lastRow = -1, lastOwner = 0
                for k in 0 ..< chunk.count {
                    let r = rows[k], j = columns[k]
                    let v = chunkValues?[k] ?? 1
                    if Int(r) != lastRow { lastRow = Int(r); lastOwner = RowDistribution.owner(ofRow: lastRow, rows: n, ranks: K) }
                    put(lastRow, lastOwner, j, v)
                    if mirror && r != j { put(Int(j), RowDistribution.owner(ofRow: Int(j), rows: n, ranks: K), r, negate ? -v : v) }
                }
                chunk.release()  // routed: its entries are no longer needed
                setSortFacts(local)
            }
        }
        section.release()
        var received = comm.exchange(outgoing)
        outgoing = []

        // Assemble, as chunks of the whole-file assembler (general symmetry: the mirrors are
        // there already). The messages are dropped once copied into chunks, which the
        // assembler frees as it goes.
        var before: ReceivedPieces? = ReceivedPieces(Array(received[..<rank]))
        var after: ReceivedPieces? = ReceivedPieces(Array(received[(rank + 1)...]))
        received = []
        let list = before!.chunkOutputs() + localParts + after!.chunkOutputs()
        let total = before!.total + localParts.reduce(0) { $0 + $1.count } + after!.total
        before = nil
        after = nil
        var localHeader = h
        localHeader.rowCount = mine.count
        localHeader.symmetry = .general
        return Reader.assembleCoordinate(ParsedData(chunks: list, entryCount: total), localHeader)
    }

    /// Calls `body` with the base addresses of `arrays`, all valid at once (an empty array
    /// gets an address that is never written through).
    private static func withBuffers(_ arrays: inout [[UInt8]], _ body: (SharedReadBuffer<UnsafeMutableRawPointer>) -> Void) {
        // Boxed, so that the nested accesses are to distinct objects.
        final class Box { var bytes: [UInt8]; init(_ bytes: [UInt8]) { self.bytes = bytes } }
        let boxes = arrays.map(Box.init)
        arrays = []
        let table = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: max(1, boxes.count))
        defer { table.deallocate() }
        func nest(_ k: Int) {
            if k == boxes.count { body(SharedReadBuffer(UnsafeBufferPointer(rebasing: table[0 ..< k]))); return }
            boxes[k].bytes.withUnsafeMutableBytes { raw in
                table.initializeElement(at: k, to: raw.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!)
                nest(k + 1)
            }
        }
        nest(0)
        arrays = boxes.map { box in
            defer { box.bytes = [] }
            return box.bytes
        }
    }

    // MARK: Vector

    static func readVector(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> VectorSlice {
        switch mode(path: path, purpose: .vector, comm: comm) {
        case .whole: return try scatterWholeVector(path: path, comm: comm, options: options)
        case .ranges: return try readVectorRanges(path: path, comm: comm, options: options)
        }
    }

    private static func scatterWholeVector(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> VectorSlice {
        let K = comm.size
        let whole: [Double]? = try comm.agreeing { () throws(MatrixMarketError) -> [Double]? in
            comm.rank == 0 ? try Reader.readVector(path: path, options: options) : nil
        }
        var outgoing = [[UInt8]](repeating: [], count: K)
        if let v = whole {
            for r in 0 ..< K {
                let rows = RowDistribution.block(rows: v.count, ranks: K, rank: r)
                var message = MessageWriter()
                message.append(v.count)
                v.withUnsafeBufferPointer { message.append(contentsOf: UnsafeBufferPointer(rebasing: $0[rows])) }
                outgoing[r] = message.bytes
            }
        }
        let received = K == 1 ? outgoing : comm.exchange(outgoing)
        var reader = MessageReader(received[0])
        let n = reader.int()
        let rows = RowDistribution.block(rows: n, ranks: K, rank: comm.rank)
        return VectorSlice(values: reader.array(Double.self, count: rows.count), offset: rows.lowerBound, globalCount: n)
    }

    private static func readVectorRanges(path: String, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> VectorSlice {
        let K = comm.size, rank = comm.rank
        let section = try RankSection.parse(path: path, purpose: .vector, comm: comm, options: options)
        let h = section.info.header
        let n = (h.rowCount == 0 || h.columnCount == 0) ? 0 : max(h.rowCount, h.columnCount)
        let mine = RowDistribution.block(rows: n, ranks: K, rank: rank)
        var outgoing = [[UInt8]](repeating: [], count: K)
        if h.format == .array {
            // Value k of this rank is entry `section.entriesBefore + k`: send runs of them.
            var values: [Double] = []
            values.reserveCapacity(section.entryCount)
            for chunk in section.outputs where chunk.count > 0 {
                values.append(contentsOf: UnsafeBufferPointer(start: chunk.values, count: chunk.count))
                chunk.release()
            }
            let first = section.entriesBefore
            for d in 0 ..< K where !values.isEmpty {
                let target = RowDistribution.block(rows: n, ranks: K, rank: d)
                let lo = max(target.lowerBound, first), hi = min(target.upperBound, first + values.count)
                guard lo < hi else { continue }
                var message = MessageWriter()
                message.append(lo - target.lowerBound)
                message.append(hi - lo)
                values.withUnsafeBufferPointer { message.append(contentsOf: UnsafeBufferPointer(rebasing: $0[(lo - first) ..< (hi - first)])) }
                outgoing[d] = message.bytes
            }
        } else {
            // Coordinate: (local index, value) pairs to the owner, in file order.
            let byColumn = h.rowCount == 1 && h.columnCount != 1
            var indices = [[Int]](repeating: [], count: K), values = [[Double]](repeating: [], count: K)
            for chunk in section.outputs where chunk.count > 0 {
                for k in 0 ..< chunk.count {
                    let i = Int(byColumn ? chunk.columns![k] : chunk.rows![k])
                    let d = RowDistribution.owner(ofRow: i, rows: n, ranks: K)
                    indices[d].append(i - RowDistribution.block(rows: n, ranks: K, rank: d).lowerBound)
                    values[d].append(chunk.values.map { $0[k] } ?? 1)
                }
                chunk.release()
            }
            for d in 0 ..< K where !indices[d].isEmpty {
                var message = MessageWriter()
                message.append(indices[d].count)
                indices[d].withUnsafeBufferPointer { message.append(contentsOf: $0) }
                values[d].withUnsafeBufferPointer { message.append(contentsOf: $0) }
                outgoing[d] = message.bytes
            }
        }
        section.release()
        let received = K == 1 ? outgoing : comm.exchange(outgoing)
        var result = [Double](repeating: 0, count: mine.count)
        if h.format == .array {
            for message in received where !message.isEmpty {
                var reader = MessageReader(message)
                let start = reader.int(), count = reader.int()
                let part = reader.array(Double.self, count: count)
                result.replaceSubrange(start ..< start + count, with: part)
            }
        } else {
            // The whole-file rule: the first value is stored as is (keeps -0.0), later ones added.
            var seen = [Bool](repeating: false, count: mine.count)
            for message in received where !message.isEmpty {
                var reader = MessageReader(message)
                let count = reader.int()
                let indices = reader.array(Int.self, count: count), values = reader.array(Double.self, count: count)
                for k in 0 ..< count {
                    let i = indices[k]
                    result[i] = seen[i] ? result[i] + values[k] : values[k]
                    seen[i] = true
                }
            }
        }
        return VectorSlice(values: result, offset: mine.lowerBound, globalCount: n)
    }
}

/// This rank's parse of its share of a plain file's data section, checked: when `parse`
/// returns, no rank found a problem, and the counts of the ranks before this one are known.
final class RankSection {
    let info: HeaderInfo
    /// This rank's chunk outputs, in file order.
    private(set) var outputs: [ChunkOutput]
    /// Entries (values) parsed by the ranks before this one.
    let entriesBefore: Int
    /// Entries parsed by this rank.
    let entryCount: Int

    private init(info: HeaderInfo, outputs: [ChunkOutput], entriesBefore: Int, entryCount: Int) {
        self.info = info
        self.outputs = outputs
        self.entriesBefore = entriesBefore
        self.entryCount = entryCount
    }

    /// Drops the chunk outputs.
    func release() { outputs = [] }

    /// The data section's chunks are those of `parseRegion` with chunks no larger than
    /// 1/K of the section (so every rank gets some when the section has K lines or more) and
    /// 1 MiB at least otherwise; rank r parses chunks `[C r / K, C (r + 1) / K)`, the last
    /// rank also the copied last line when it has no '\n'.
    static func parse(path: String, purpose: Reader.Purpose, comm: any Communicator, options: MatrixMarketReadOptions) throws(MatrixMarketError) -> RankSection {
        let K = comm.size, rank = comm.rank
        let name = displayName(path)
        // 1. Map the file, parse and check the header (every rank, agreed).
        let (input, info, layout) = try comm.agreeing { () throws(MatrixMarketError) -> (InputBytes, HeaderInfo, DataLayout) in
            guard case .bytes(let input) = try InputSource.open(path) else {
                throw MatrixMarketError(path: name, message: "cannot map the file for a distributed read (no address space left?)")
            }
            guard case .complete(let info) = try parseHeader(input.buffer, isComplete: true, path: name) else {
                throw MatrixMarketError(path: name, message: "internal error: incomplete header")
            }
            let layout = try Reader.check(info, name: name, options: options, purpose: purpose, ranks: K)
            return (input, info, layout)
        }
        // 2. Parse this rank's chunks (no collective: a local failure waits for step 3).
        var ranges: [ByteRange] = [], outputs: [ChunkOutput] = []
        var localFailure: MatrixMarketError?
        var tail: UnsafeMutablePointer<UInt8>?
        defer { free(tail) }
        if let base = input.base, info.dataOffset < input.count {
            let start = info.dataOffset, count = input.count
            let (mainEnd, endsInLongLine, hasTail) = sectionEnd(base, start: start, count: count)
            let bytes = mainEnd - start
            let minimumChunk = min(1 << 20, max(1, (bytes + K - 1) / K))
            let chunkCount = regionChunkCount(bytes: bytes, minimumChunk: minimumChunk)
            let mine = chunkCount * rank / K ..< chunkCount * (rank + 1) / K
            do {
                try ParseTables.with { tables throws(MatrixMarketError) in
                    if !mine.isEmpty {
                        (ranges, outputs) = parseRegion(base, start: start, stop: mainEnd, endsInLongLine: endsInLongLine,
                                                        mapped: input.mapped, minimumChunk: minimumChunk, only: mine, layout, tables)
                    }
                    if rank == K - 1, hasTail, !outputs.contains(where: { $0.errorLine >= 0 }) {
                        let t = try copyTail(base, from: mainEnd, to: count, path: name)
                        tail = t
                        let range = ByteRange(start: t, end: t + (count - mainEnd) + 1)
                        let out = ChunkOutput()
                        parseChunk(range, layout, tables, out, stopAtEntry: -1)
                        ranges.append(range)
                        outputs.append(out)
                    }
                }
            } catch { localFailure = error }
        }
        // 3. Gather the counts; each rank resolves its chunks after those of the ranks
        // before it (exact when they had no problem; when one had, its error comes first).
        var entries = 0, lines = 0
        for o in outputs { entries += o.count; lines += o.lines }
        let counts = K == 1 ? [[entries, lines]] : comm.allGather([entries, lines])
        var resolver = SectionResolver(info, layout, path: name)
        for r in 0 ..< rank {
            resolver.entriesBefore += counts[r][0]
            resolver.linesBefore += counts[r][1]
        }
        let entriesBefore = resolver.entriesBefore
        if localFailure == nil {
            do {
                try ParseTables.with { tables throws(MatrixMarketError) in
                    try resolver.resolve(ranges, outputs, tables)
                    if rank == K - 1 { try resolver.finish() }
                }
            } catch { localFailure = error }
        }
        try comm.agree(localFailure)
        return RankSection(info: info, outputs: outputs, entriesBefore: entriesBefore, entryCount: entries)
    }
}

/// Received route messages cut into chunk outputs for the assembler (pieces of at most 64 Ki
/// entries, senders in rank order), with their row-sortedness facts.
private struct ReceivedPieces {
    let messages: [[UInt8]]
    /// (message, first entry, entry count) of each piece.
    let pieces: [(Int, Int, Int)]
    let total: Int

    init(_ messages: [[UInt8]]) {
        self.messages = messages
        var pieces: [(Int, Int, Int)] = []
        var total = 0
        for (s, message) in messages.enumerated() {
            let m = message.count / 16
            total += m
            var k = 0
            while k < m {
                let size = min(1 << 16, m - k)
                pieces.append((s, k, size))
                k += size
            }
        }
        self.pieces = pieces
        self.total = total
    }

    func chunkOutputs() -> [ChunkOutput] {
        let outputs = pieces.map { _ in ChunkOutput() }
        let list = pieces, all = messages
        forEachChunkClaimed(list.count) { p in
            let (s, first, count) = list[p]
            let out = outputs[p]
            let m = all[s].count / 16
            guard out.grow(to: count, indices: true, values: true) else { fatalError("out of memory assembling a distributed read") }
            all[s].withUnsafeBytes { raw in
                let values = raw.baseAddress!.assumingMemoryBound(to: Double.self)
                let rows = raw.baseAddress!.advanced(by: 8 * m).assumingMemoryBound(to: Int32.self)
                let columns = raw.baseAddress!.advanced(by: 12 * m).assumingMemoryBound(to: Int32.self)
                out.values!.update(from: values + first, count: count)
                out.rows!.update(from: rows + first, count: count)
                out.columns!.update(from: columns + first, count: count)
            }
            out.count = count
            setSortFacts(out)
        }
        return outputs
    }
}

/// Sets a chunk's row-sortedness facts from its entries (as the parser does), so that the
/// assembler can take its row-sorted path.
private func setSortFacts(_ out: ChunkOutput) {
    guard let rows = out.rows, let columns = out.columns else { return }
    var previous = -1, sorted = true
    for k in 0 ..< out.count {
        let key = Int(rows[k]) << 32 | Int(columns[k])
        if key <= previous { sorted = false }
        if k == 0 { out.firstKey = key }
        previous = key
    }
    out.sortedByRow = sorted
    out.lastKey = previous
}
