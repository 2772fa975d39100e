// The data section, parsed in parallel.
//
// The section is cut into chunks of about `chunkBytes` (1 MiB or more) at newlines (a
// function of the bytes only; each parse task finds its own boundaries, so the text is
// touched once, by the task that parses it; threads claim chunks as they free up). A last line without '\n' is copied with one appended, so every
// chunk ends in '\n' and the scanners can use it as a sentinel. Each chunk counts its
// lines and entries and stops at its first error; errors are then resolved in file
// order, so the error reported is the one a sequential reader would hit first. Every scan
// is bounded by the maximum line length (1 MiB), and chunks after one that failed are
// skipped. A stream is parsed the same way, one window of text at a time.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import SparseCore
import Synchronization

/// A byte range `[start, end)` whose last byte is '\n' (or empty, when one line is longer than a chunk).
struct ByteRange: @unchecked Sendable {
    let start: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>
}

/// What the data section must contain, and how to check it.
struct DataLayout: Sendable {
    let format: MatrixMarketFormat
    let field: MatrixMarketField
    let symmetry: MatrixMarketSymmetry
    let rowCount: Int
    let columnCount: Int
    let allowNonFinite: Bool
}

/// One chunk's entries (coordinate: 0-based Int32 row and column, value unless pattern;
/// array: values only), line count, and first error. Owned memory is freed on deinit.
final class ChunkOutput: @unchecked Sendable {
    var rows: UnsafeMutablePointer<Int32>?
    var columns: UnsafeMutablePointer<Int32>?
    var values: UnsafeMutablePointer<Double>?
    var capacity = 0
    /// Entries parsed (before the error, if any).
    var count = 0
    /// Newlines passed (all of the chunk's lines when there is no error).
    var lines = 0
    /// 0-based line within the chunk of the first error, or -1.
    var errorLine = -1
    var errorMessage = ""
    /// With `stopAtEntry`: the 0-based line within the chunk of that entry.
    var stopLine = -1
    /// Coordinate: whether the entries are strictly increasing in (row, column), and the
    /// first and last (row << 32 | column) keys, so a row-sorted file skips the scatter.
    var sortedByRow = true
    var firstKey = -1
    var lastKey = -1

    deinit { release() }

    /// Frees the entries (keeping `count` and the sortedness facts), so an assembler can
    /// return a chunk's memory as soon as it has consumed it.
    func release() {
        releaseRows()
        freeReturningPages(columns, bytes: capacity * 4)
        freeReturningPages(values, bytes: capacity * 8)
        columns = nil
        values = nil
    }

    /// Frees the row indices alone (a row-sorted assembly needs them only for counting).
    func releaseRows() {
        freeReturningPages(rows, bytes: capacity * 4)
        rows = nil
    }

    /// Gives back the storage beyond `count` entries (all of it when there are none), so a
    /// chunk of blank or comment lines holds no memory while later windows are read.
    func shrinkToFit() {
        guard capacity > count else { return }
        if count == 0 {
            release()
            capacity = 0
            return
        }
        if let r = rows, let shrunk = realloc(r, count * 4) { rows = shrunk.assumingMemoryBound(to: Int32.self) }
        if let c = columns, let shrunk = realloc(c, count * 4) { columns = shrunk.assumingMemoryBound(to: Int32.self) }
        if let v = values, let shrunk = realloc(v, count * 8) { values = shrunk.assumingMemoryBound(to: Double.self) }
        capacity = count
    }

    /// Grows storage to `newCapacity` entries; false when out of memory.
    func grow(to newCapacity: Int, indices: Bool, values storeValues: Bool) -> Bool {
        if indices {
            guard let r = realloc(rows, newCapacity * 4), let c = realloc(columns, newCapacity * 4) else { return false }
            rows = r.assumingMemoryBound(to: Int32.self)
            columns = c.assumingMemoryBound(to: Int32.self)
        }
        if storeValues {
            guard let v = realloc(values, newCapacity * 8) else { return false }
            values = v.assumingMemoryBound(to: Double.self)
        }
        capacity = newCapacity
        return true
    }
}

/// A parsed data section: chunk outputs in file order (an assembler may release each
/// chunk, setting it to nil, as soon as it has consumed it), with the total entry count.
final class ParsedData {
    var chunks: [ChunkOutput?]
    let entryCount: Int

    init(chunks: [ChunkOutput], entryCount: Int) {
        self.chunks = chunks
        self.entryCount = entryCount
    }
}

/// Chunk size for the data section: at least `minimum` (1 MiB for a mapped file, 512 KiB
/// for a stream window), at most about 4096 chunks. A function of the byte counts alone
/// (never of the thread count): a mapped file of 64 MiB or more has at least 64 chunks, and
/// a full 32 MiB stream window 64, so up to 64 threads (and more on larger files) each get
/// work. Smaller chunks would put their arrays in malloc's arenas (under its 128 KiB mmap
/// threshold), which keep more of the freed memory resident and raise a read's peak.
func chunkBytes(for dataBytes: Int, minimum: Int = 1 << 20) -> Int { max(minimum, dataBytes / 4096) }

/// The longest line accepted, in bytes before its '\n' (a CR of a CRLF line counts):
/// 1 MiB. A longer line is an error naming its line, so neither a reader nor a chunk
/// boundary search ever scans or copies more than this for one line.
let maximumLineLength = 1 << 20


/// The message for a line that holds a NUL byte in its first `maximumLineLength + 1` bytes, or
/// that has no '\n' within them (too long); nil for a line that is neither. `available` is
/// how many bytes can be read at `start` (a line ending before them needs its '\n' there).
func lineLimitProblem(_ start: UnsafePointer<UInt8>, available: Int) -> String? {
    let scanned = min(available, maximumLineLength + 1)
    guard scanned > 0 else { return nil }
    let newline = memchr(start, 0x0A, scanned)
    let length = newline.map { start.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? scanned
    if let nul = memchr(start, 0, length) {
        let column = start.distance(to: nul.assumingMemoryBound(to: UInt8.self)) + 1
        return nulByteMessage(column: column)
    }
    if newline == nil && scanned > maximumLineLength { return overlongLineMessage }
    return nil
}

/// "NUL byte at column N ...".
func nulByteMessage(column: Int) -> String {
    "NUL byte at column \(column); is this a binary file? (Matrix Market files are text)"
}

/// The message for a line longer than `maximumLineLength`.
let overlongLineMessage = "line longer than the maximum of \(maximumLineLength) bytes (1 MiB); is this a binary or damaged file?"

/// An index such that some chunk at or before it is known to fail (`Int.max`: none known),
/// so that later chunks skip their work: a damaged big file fails after parsing up to its
/// first error, not all of it.
final class FirstFailure: Sendable {
    private let index = Atomic<Int>(Int.max)

    /// The lowest failing chunk recorded so far.
    var value: Int { index.load(ordering: .relaxed) }

    /// Records that chunk `c` failed.
    func record(_ c: Int) {
        var current = index.load(ordering: .relaxed)
        while c < current {
            let (exchanged, original) = index.compareExchange(expected: current, desired: c, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// Runs `body(c)` for every chunk `c` in `0 ..< count` on up to `Parallelism.threadCount`
/// threads, each thread claiming the next unclaimed chunk (an atomic counter, so chunks start
/// in increasing order and a thread slowed by other load holds up no fixed share of them).
/// What each chunk computes must depend on `c` alone (chunk-owned outputs), as in
/// `Parallelism.forEachChunk`; only which thread runs it varies. The parallelism is bounded by
/// `min(threads, count)`, `threads` defaulting to `Parallelism.threadCount`.
func forEachChunkClaimed(_ count: Int, threads: Int? = nil, _ body: @Sendable (Int) -> Void) {
    guard count > 0 else { return }
    let next = ChunkCounter()
    Parallelism.forEachChunk(min(max(1, threads ?? Parallelism.threadCount), count)) { _ in
        while true {
            let c = next.claim()
            if c >= count { return }
            body(c)
        }
    }
}

/// The next chunk to claim, shared by the threads of one `forEachChunkClaimed`.
private final class ChunkCounter: Sendable {
    private let value = Atomic<Int>(0)

    /// Returns the next chunk index (0, 1, 2, ...; past the end when all are claimed).
    func claim() -> Int { value.add(1, ordering: .relaxed).oldValue }
}

/// The index of the last '\n' in `[base + from, base + to)`, or nil.
private func lastNewline(_ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
    var i = to - 1
    while i >= from {
        if base[i] == 0x0A { return i }
        i -= 1
    }
    return nil
}

/// Cuts `[start, stop)` of `base` into chunks at newlines (each task finds its own
/// boundaries, so the text is touched once, by the task that parses it), parses them in
/// parallel and returns the ranges and outputs in file order.
///
/// The region ends in '\n', except with `endsInLongLine`: then its last `maximumLineLength +
/// 1` bytes hold no '\n' and the chunk holding that last line's start reports it as too long.
/// Chunks after the first one known to fail are skipped (left empty); they are never reached
/// when errors are resolved in file order. With `mapped`, each parsed chunk's pages are dropped.
/// `threads` bounds the threads used (default `Parallelism.threadCount`); the result never
/// depends on it. `minimumChunk` is the smallest chunk (`chunkBytes`). With `only`, just
/// those chunks of the region's chunk list (`regionChunkCount`) are parsed and returned: a
/// rank of a distributed read parses its share of the very chunks a whole-file read would.
func parseRegion(_ base: UnsafePointer<UInt8>, start: Int, stop: Int, endsInLongLine: Bool, mapped: Bool,
                 threads: Int? = nil, minimumChunk: Int = 1 << 20, only: Range<Int>? = nil,
                 _ layout: DataLayout, _ tables: ParseTables) -> (ranges: [ByteRange], outputs: [ChunkOutput]) {
    guard stop > start else { return ([], []) }
    if let only {
        let all = parseRegion(base, start: start, stop: stop, endsInLongLine: endsInLongLine, mapped: mapped, threads: threads,
                              minimumChunk: minimumChunk, selecting: only, layout, tables)
        return (Array(all.ranges[only]), Array(all.outputs[only]))
    }
    return parseRegion(base, start: start, stop: stop, endsInLongLine: endsInLongLine, mapped: mapped, threads: threads,
                       minimumChunk: minimumChunk, selecting: nil, layout, tables)
}

/// The number of chunks `parseRegion` cuts `bytes` bytes into.
func regionChunkCount(bytes: Int, minimumChunk: Int) -> Int {
    guard bytes > 0 else { return 0 }
    let size = chunkBytes(for: bytes, minimum: minimumChunk)
    return (bytes + size - 1) / size
}

private func parseRegion(_ base: UnsafePointer<UInt8>, start: Int, stop: Int, endsInLongLine: Bool, mapped: Bool,
                         threads: Int?, minimumChunk: Int, selecting: Range<Int>?,
                         _ layout: DataLayout, _ tables: ParseTables) -> (ranges: [ByteRange], outputs: [ChunkOutput]) {
    // Chunk c nominally covers [start + c * size, start + (c + 1) * size) and really starts
    // after the first '\n' at or after its nominal start minus one (chunk 0 at `start`), and
    // ends where chunk c + 1 starts. The search is bounded by the maximum line length: no
    // '\n' within it means the line crossing the nominal start is too long, and the chunk is
    // left to the one holding that line's start (boundary nil).
    let size = chunkBytes(for: stop - start, minimum: minimumChunk)
    let chunkCount = (stop - start + size - 1) / size
    var ranges = [ByteRange](repeating: ByteRange(start: base + start, end: base + start), count: chunkCount)
    let outputs = (0 ..< chunkCount).map { _ in ChunkOutput() }
    let failure = FirstFailure()
    let pointer = SharedReadBuffer(UnsafeBufferPointer(start: base, count: stop))
    ranges.withUnsafeMutableBufferPointer { rangeBuffer in
        let shared = SharedBuffer(rangeBuffer)
        let first = selecting?.lowerBound ?? 0
        forEachChunkClaimed(selecting?.count ?? chunkCount, threads: threads) { claimed in
            let c = first + claimed
            let out = outputs[c]
            if c > failure.value { return }  // an earlier chunk already failed
            let base = pointer.buffer.baseAddress!
            /// Where chunk k starts: `start`, or just after a newline; nil inside a too-long line.
            func boundary(_ k: Int) -> Int? {
                if k == 0 { return start }
                if k == chunkCount { return endsInLongLine ? nil : stop }
                let nominal = start + k * size
                guard let found = memchr(base + nominal - 1, 0x0A, min(stop - nominal + 1, maximumLineLength + 1)) else { return nil }
                return base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1
            }
            guard let s = boundary(c) else {
                // Inside a too-long line, which an earlier chunk reports: skip this one and
                // tell later chunks that the first failure is before them.
                failure.record(c - 1)
                return
            }
            var longLine: Int?
            let e: Int
            if let b = boundary(c + 1) {
                e = max(s, b)
            } else {
                // The line crossing the nominal end is too long: parse up to its start.
                let nominalEnd = min(start + (c + 1) * size, stop)
                let t = (nominalEnd > s ? lastNewline(base, from: s, to: nominalEnd) : nil).map { $0 + 1 } ?? s
                e = t
                longLine = t
            }
            let range = ByteRange(start: base + s, end: base + e)
            shared.buffer[c] = range
            parseChunk(range, layout, tables, out, stopAtEntry: -1)
            if let t = longLine, out.errorLine < 0 {
                out.errorLine = out.lines
                out.errorMessage = lineLimitProblem(base + t, available: stop - t) ?? overlongLineMessage
            }
            out.shrinkToFit()
            if out.errorLine >= 0 { failure.record(c) }
            // The text of a parsed chunk is not needed again (an error probe would fault it
            // back in from the file): drop its pages so that peak memory is the parsed
            // entries, not the text as well.
            if mapped { dropMappedPages(range) }
        }
    }
    return (ranges, outputs)
}

/// Resolves chunk results in file order, carrying entry and line counts across calls (one
/// call per stream window), so that the error reported is the first one a sequential reader
/// would meet, with its exact line.
struct SectionResolver {
    let path: String
    let layout: DataLayout
    let expected: Int
    /// 1-based line of the size line.
    let sizeLine: Int
    /// Entries and lines of the chunks resolved so far.
    var entriesBefore = 0
    var linesBefore = 0

    init(_ info: HeaderInfo, _ layout: DataLayout, path: String) {
        self.path = path
        self.layout = layout
        expected = info.header.storedEntryCount
        sizeLine = info.sizeLine
    }

    private var kind: String { layout.format == .coordinate ? "entries" : "values" }

    /// The 1-based line number of the next line not yet resolved.
    var nextLine: Int { sizeLine + 1 + linesBefore }

    /// Throws the first problem among `outputs` (in order), else adds their counts.
    mutating func resolve(_ ranges: [ByteRange], _ outputs: [ChunkOutput], _ tables: ParseTables) throws(MatrixMarketError) {
        for c in 0 ..< outputs.count {
            let o = outputs[c]
            if entriesBefore + o.count > expected {
                // Entry number `expected` (0-based) is an extra one: find its line.
                let probe = ChunkOutput()
                parseChunk(ranges[c], layout, tables, probe, stopAtEntry: expected - entriesBefore)
                throw MatrixMarketError(path: path, line: nextLine + probe.stopLine,
                                        message: "too many \(kind): the size line declares \(expected), and this is number \(expected + 1)")
            }
            if o.errorLine >= 0 {
                throw MatrixMarketError(path: path, line: nextLine + o.errorLine, message: o.errorMessage)
            }
            entriesBefore += o.count
            linesBefore += o.lines
        }
    }

    /// Throws when fewer entries than declared were found.
    func finish() throws(MatrixMarketError) {
        if entriesBefore < expected {
            throw MatrixMarketError(path: path, line: sizeLine + linesBefore, message: "truncated: expected \(expected) \(kind), found \(entriesBefore)")
        }
    }
}

/// Parses the data section of `input` (everything from `info.dataOffset`), checking
/// the entry count, and returns per-chunk entries.
func parseDataSection(_ input: InputBytes, _ info: HeaderInfo, _ layout: DataLayout, path: String) throws(MatrixMarketError) -> ParsedData {
    var resolver = SectionResolver(info, layout, path: path)
    guard let base = input.base, info.dataOffset < input.count else {
        try resolver.finish()
        return ParsedData(chunks: [], entryCount: resolver.expected)
    }
    let start = info.dataOffset, count = input.count
    let (mainEnd, endsInLongLine, hasTail) = sectionEnd(base, start: start, count: count)
    var tail: UnsafeMutablePointer<UInt8>?
    defer { free(tail) }
    if hasTail { tail = try copyTail(base, from: mainEnd, to: count, path: path) }
    let tailRange = tail.map { ByteRange(start: $0, end: $0 + (count - mainEnd) + 1) }
    let outputs = try ParseTables.with { tables throws(MatrixMarketError) -> [ChunkOutput] in
        var (ranges, outputs) = parseRegion(base, start: start, stop: mainEnd, endsInLongLine: endsInLongLine,
                                            mapped: input.mapped, layout, tables)
        if let tailRange, !outputs.contains(where: { $0.errorLine >= 0 }) {
            let out = ChunkOutput()
            parseChunk(tailRange, layout, tables, out, stopAtEntry: -1)
            ranges.append(tailRange)
            outputs.append(out)
        }
        try resolver.resolve(ranges, outputs, tables)
        try resolver.finish()
        return outputs
    }
    return ParsedData(chunks: outputs, entryCount: resolver.expected)
}

/// Where the data section `[start, count)` of `base` splits: the part ending in the last
/// '\n' (`mainEnd`), and whether a last line without '\n' follows (`hasTail`, to be copied
/// with one appended). The search back is bounded: no '\n' in the last `maximumLineLength +
/// 1` bytes means the last line is too long (`endsInLongLine`), which the chunk holding its
/// start reports.
func sectionEnd(_ base: UnsafePointer<UInt8>, start: Int, count: Int) -> (mainEnd: Int, endsInLongLine: Bool, hasTail: Bool) {
    guard base[count - 1] != 0x0A else { return (count, false, false) }
    let look = min(count - start, maximumLineLength + 1)
    if let newline = lastNewline(base, from: count - look, to: count) { return (newline + 1, false, true) }
    if look <= maximumLineLength { return (start, false, true) }
    return (count, true, false)
}

/// A copy of the unterminated last line `[from, to)` of `base` with a '\n' appended
/// (`malloc`ed; the caller frees it).
func copyTail(_ base: UnsafePointer<UInt8>, from: Int, to: Int, path: String) throws(MatrixMarketError) -> UnsafeMutablePointer<UInt8> {
    let tailLength = to - from
    guard let t = malloc(tailLength + 1)?.assumingMemoryBound(to: UInt8.self) else {
        throw MatrixMarketError(path: path, message: "out of memory")
    }
    memcpy(t, base + from, tailLength)
    t[tailLength] = 0x0A
    return t
}

/// A window buffer: `maximumLineLength + 1` bytes of head room, where the line carried over
/// from the previous window is copied, then the window's fresh bytes, then one byte for the
/// '\n' given to an unterminated last line. It starts small and grows while it is filled
/// (so a small stream does not reserve a whole window) up to its full size.
final class WindowBuffer: @unchecked Sendable {
    static let headRoom = maximumLineLength + 1
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    let fullCapacity: Int

    init(windowBytes: Int, startingFull: Bool, path: String) throws(MatrixMarketError) {
        fullCapacity = Self.headRoom + windowBytes + 1
        capacity = startingFull ? fullCapacity : min(fullCapacity, Self.headRoom + (1 << 16))
        guard let memory = malloc(capacity) else {
            throw MatrixMarketError(path: path, message: "out of memory allocating the \(formatBytes(capacity)) read window")
        }
        base = memory.assumingMemoryBound(to: UInt8.self)
    }

    deinit { free(base) }

    /// Makes room for `size` bytes (at most `fullCapacity`); false when out of memory.
    func grow(to size: Int) -> Bool {
        if size <= capacity { return true }
        let wanted = min(max(size, capacity * 2), fullCapacity)
        guard let grown = realloc(base, wanted) else { return false }
        base = grown.assumingMemoryBound(to: UInt8.self)
        capacity = wanted
        return true
    }
}

/// Hands out a stream's data-section bytes window by window: first the bytes read with the
/// header, then the stream. Used by one thread at a time (the reading thread, or the parser
/// while no read is under way).
final class WindowFeeder: @unchecked Sendable {
    let stream: ZStream
    let path: String
    var pending: UnsafeBufferPointer<UInt8>

    init(_ stream: ZStream, leftover: UnsafeBufferPointer<UInt8>, path: String) {
        self.stream = stream
        self.pending = leftover
        self.path = path
    }

    /// Reads the next `count` bytes into `buffer` after its head room (growing it); fewer
    /// only at the end of the input. Returns how many.
    func read(into buffer: WindowBuffer, count: Int) throws(MatrixMarketError) -> Int {
        var got = 0
        while got < count {
            let step = min(count - got, max(buffer.capacity - WindowBuffer.headRoom - got - 1, 0))
            if step == 0 {
                guard buffer.grow(to: WindowBuffer.headRoom + got + 1 + (1 << 16)) else {
                    throw MatrixMarketError(path: path, message: "out of memory growing the read window to \(formatBytes(buffer.capacity * 2))")
                }
                continue
            }
            let destination = buffer.base + WindowBuffer.headRoom + got
            var n = 0
            if pending.count > 0 {
                n = min(step, pending.count)
                memcpy(destination, pending.baseAddress!, n)
                pending = UnsafeBufferPointer(rebasing: pending[n...])
            } else {
                n = try stream.read(into: destination, count: step)
                if n == 0 { break }
            }
            got += n
        }
        return got
    }
}

/// Parses the data section from a stream, window by window: window k is the line carried
/// over from window k - 1 plus bytes [k W, (k + 1) W) of the data section (W = `windowBytes`,
/// from `MatrixMarketReadOptions.streamWindowBytes`), cut after its last '\n' (a function of
/// the bytes alone, never of read sizes); its complete lines are parsed in parallel chunks and resolved before the next
/// window is parsed, and the partial last line is carried over. With more than one thread the
/// next window is read (inflated) while this one is parsed. Memory is two windows plus the
/// parsed entries. `leftover` holds the data-section bytes already read with the header.
func parseStreamedDataSection(_ stream: ZStream, leftover: UnsafeBufferPointer<UInt8>, _ info: HeaderInfo,
                              _ layout: DataLayout, windowBytes requested: Int, path: String) throws(MatrixMarketError) -> ParsedData {
    var resolver = SectionResolver(info, layout, path: path)
    let windowBytes = max(requested, 1)
    let head = WindowBuffer.headRoom
    let feeder = WindowFeeder(stream, leftover: leftover, path: path)
    let overlap = Parallelism.threadCount > 1
    var buffers = [try WindowBuffer(windowBytes: windowBytes, startingFull: false, path: path)]
    // A read under way on another thread; always waited for before the buffers and the
    // stream can go away (also when parsing throws).
    let reading = DispatchGroup()
    final class ReadResult: @unchecked Sendable { var value: Result<Int, MatrixMarketError> = .success(0) }
    let readResult = ReadResult()
    defer { reading.wait() }
    var outputs: [ChunkOutput] = []
    try ParseTables.with { tables throws(MatrixMarketError) in
        var got = try feeder.read(into: buffers[0], count: windowBytes)
        var carry = 0
        var k = 0
        while true {
            let current = buffers[k % 2]
            let atEnd = got < windowBytes
            if !atEnd {
                // The next window's fresh bytes go into the other buffer (its carried line
                // was copied out already).
                if buffers.count == 1 { buffers.append(try WindowBuffer(windowBytes: windowBytes, startingFull: true, path: path)) }
                let next = buffers[(k + 1) % 2]
                if overlap {
                    DispatchQueue.global().async(group: reading) {
                        do throws(MatrixMarketError) { readResult.value = .success(try feeder.read(into: next, count: windowBytes)) } catch { readResult.value = .failure(error) }
                    }
                }
            }
            let text = current.base + head - carry
            let filled = carry + got
            let cut = lastNewline(text, from: 0, to: filled).map { $0 + 1 } ?? 0
            // While the next window is read (inflated) on a thread of its own, the parse uses
            // one thread fewer, so that the read, the serial part, is not slowed by it.
            let parseThreads = overlap && !atEnd ? Parallelism.threadCount - 1 : Parallelism.threadCount
            let window = parseRegion(text, start: 0, stop: cut, endsInLongLine: false, mapped: false, threads: parseThreads,
                                     minimumChunk: 1 << 19, layout, tables)
            try resolver.resolve(window.ranges, window.outputs, tables)
            outputs += window.outputs
            carry = filled - cut
            if let problem = lineLimitProblem(text + cut, available: carry), carry > maximumLineLength {
                throw MatrixMarketError(path: path, line: resolver.nextLine, message: problem)
            }
            if atEnd {
                if carry > 0 {
                    // The last line has no '\n': give it one (the buffer has room).
                    text[filled] = 0x0A
                    let range = ByteRange(start: text + cut, end: text + filled + 1)
                    let out = ChunkOutput()
                    parseChunk(range, layout, tables, out, stopAtEntry: -1)
                    try resolver.resolve([range], [out], tables)
                    outputs.append(out)
                }
                break
            }
            let next = buffers[(k + 1) % 2]
            if overlap {
                reading.wait()
                got = try readResult.value.get()
            } else {
                got = try feeder.read(into: next, count: windowBytes)
            }
            // The carried line goes just before the fresh bytes.
            memcpy(next.base + head - carry, text + cut, carry)
            k += 1
        }
        try resolver.finish()
    }
    return ParsedData(chunks: outputs, entryCount: resolver.expected)
}

/// `madvise(MADV_DONTNEED)` on the whole pages inside a chunk of a mapped file.
func dropMappedPages(_ chunk: ByteRange) {
    dropPages(from: UnsafeRawPointer(chunk.start), to: UnsafeRawPointer(chunk.end))
}

/// The page size (`_SC_PAGESIZE`), or 0 if unknown.
private let pageBytes = max(Int(sysconf(Int32(_SC_PAGESIZE))), 0)

/// `madvise(MADV_DONTNEED)` on the whole pages inside `[start, end)`: their contents are
/// dropped and their memory is returned to the system (read again from the file, or zero
/// pages, if touched later).
private func dropPages(from start: UnsafeRawPointer, to end: UnsafeRawPointer) {
    let page = pageBytes
    guard page > 0 else { return }
    let first = (Int(bitPattern: start) + page - 1) / page * page
    let last = Int(bitPattern: end) / page * page
    if last > first, let address = UnsafeMutableRawPointer(bitPattern: first) {
        _ = madvise(address, last - first, MADV_DONTNEED)
    }
}

/// Frees a block of at least `bytes` from `malloc`, first returning the whole pages inside
/// its first `bytes` to the system. A chunk's arrays (tens to hundreds of KB) come from
/// malloc's arenas, which keep freed memory resident; without this, the chunks freed while
/// the CSR arrays are filled would stay in the resident set, and a read's peak would be the
/// parsed triplets plus the CSR (28 bytes per entry) instead of about the triplets (16).
/// Blocks of 128 KiB or more are left to `free` alone: glibc maps them (its default mmap
/// threshold), so `free` unmaps them whole, and a `madvise` first would be a second TLB
/// shootdown per array (it made the 2-thread assembly measurably slower). A block that
/// large which malloc did keep in an arena (its threshold rises after large frees) stays
/// resident until reused, as every chunk did before this function.
func freeReturningPages<T>(_ pointer: UnsafeMutablePointer<T>?, bytes: Int) {
    guard let pointer else { return }
    if bytes >= 2 * pageBytes && bytes < 128 << 10 {
        dropPages(from: UnsafeRawPointer(pointer), to: UnsafeRawPointer(pointer) + bytes)
    }
    free(pointer)
}

/// Parses one chunk into `out`. With `stopAtEntry >= 0`, stops when reaching that entry
/// (0-based within the chunk) and records its line in `out.stopLine` instead.
func parseChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    if layout.format == .coordinate {
        parseCoordinateChunk(chunk, layout, tables, out, stopAtEntry: stopAtEntry)
    } else {
        parseArrayChunk(chunk, layout, tables, out, stopAtEntry: stopAtEntry)
    }
}

/// The message for a value token that did not scan as `.ok`.
/// Scans one value token of either data layout into `value`; returns the problem in words,
/// or nil when the token is acceptable (including non-finite values the options allow).
@inline(__always)
private func scanValue(_ p: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ tables: ParseTables, _ layout: DataLayout,
                       isInteger: Bool, into value: inout Double) -> String? {
    let valueStart = p
    var integerSyntax = true
    let scanned = scanReal(&p, end, tables, &value, &integerSyntax)
    if scanned != .ok { return valueProblem(scanned, tokenText(valueStart), layout) }
    if isInteger && !integerSyntax { return "the integer field holds a non-integer value '\(tokenText(valueStart))'" }
    return nil
}

private func valueProblem(_ scan: NumberScan, _ token: String, _ layout: DataLayout) -> String? {
    switch scan {
    case .ok: return nil
    case .invalid:
        if layout.field == .integer { return "invalid integer '\(token)'" }
        return "invalid number '\(token)' (expected a decimal like -1.5e+02)"
    case .nonFinite:
        if layout.allowNonFinite { return nil }
        return "non-finite value '\(token)' is not allowed (allowNonFinite accepts NaN and Inf)"
    case .overflow:
        if layout.allowNonFinite { return nil }
        return "value '\(token)' overflows a double (largest finite is 1.7976931348623157e+308)"
    }
}

private func indexProblem(_ which: String, _ token: String, _ limit: Int) -> String {
    let plural = which == "row" ? "rows" : "columns"
    if limit == 0 { return "\(which) index \(token) is out of range: the matrix has 0 \(plural)" }
    return "\(which) index \(token) is out of range 1...\(limit)"
}

private func parseCoordinateChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    var p = chunk.start
    let end = chunk.end
    var line = 0
    var n = 0
    let storeValues = layout.field != .pattern
    let store = stopAtEntry < 0
    let isInteger = layout.field == .integer
    let skew = layout.symmetry == .skewSymmetric
    let rowLimit = layout.rowCount, columnLimit = layout.columnCount
    var capacity = 0
    if store {
        capacity = max(64, (end - p) / (storeValues ? 24 : 12))
        guard out.grow(to: capacity, indices: true, values: storeValues) else {
            out.errorLine = 0
            out.errorMessage = "out of memory"
            return
        }
    }
    var rows = out.rows, columns = out.columns, values = out.values
    var failure: String?
    var previousKey = -1
    var sorted = true

    var lineStart = p
    scan: while p < end {
        lineStart = p
        var c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A {
            if p - lineStart > maximumLineLength { failure = overlongLineMessage; break scan }
            p += 1
            line += 1
            continue
        }
        if c == UInt8(ascii: "%") {
            let newline = UnsafePointer(memchr(p, 0x0A, end - p)!.assumingMemoryBound(to: UInt8.self))
            // A comment is skipped unread, except for the line rules: no NUL, not too long.
            if newline - lineStart > maximumLineLength || memchr(p, 0, newline - p) != nil { failure = overlongLineMessage; break scan }
            p = newline + 1
            line += 1
            continue
        }
        if n == stopAtEntry { out.stopLine = line; return }

        var row = 0, column = 0
        let rowStart = p
        guard scanIndex(&p, &row) else { failure = "invalid row index '\(tokenText(rowStart))'"; break scan }
        guard row >= 1 && row <= rowLimit else { failure = indexProblem("row", tokenText(rowStart), rowLimit); break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A { failure = "missing column index: a coordinate entry is 'row column\(storeValues ? " value" : "")'"; break scan }
        let columnStart = p
        guard scanIndex(&p, &column) else { failure = "invalid column index '\(tokenText(columnStart))'"; break scan }
        guard column >= 1 && column <= columnLimit else { failure = indexProblem("column", tokenText(columnStart), columnLimit); break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        var value = 1.0
        if storeValues {
            if c == 0x0A { failure = "missing value: a \(layout.field.rawValue) entry is 'row column value'"; break scan }
            if let problem = scanValue(&p, end, tables, layout, isInteger: isInteger, into: &value) { failure = problem; break scan }
            c = p.pointee
            while isBlank(c) { p += 1; c = p.pointee }
        }
        if c != 0x0A {
            failure = "unexpected text '\(restOfLine(p))' after the entry"
            break scan
        }
        if skew && row == column && value != 0 {
            failure = "a skew-symmetric matrix has a zero diagonal, but entry (\(row), \(column)) is \(value)"
            break scan
        }
        if p - lineStart > maximumLineLength { failure = overlongLineMessage; break scan }
        p += 1
        if store {
            if n == capacity {
                capacity *= 2
                guard out.grow(to: capacity, indices: true, values: storeValues) else { failure = "out of memory"; break scan }
                rows = out.rows; columns = out.columns; values = out.values
            }
            rows![n] = Int32(truncatingIfNeeded: row - 1)
            columns![n] = Int32(truncatingIfNeeded: column - 1)
            if storeValues { values![n] = value }
        }
        let key = (row - 1) << 32 | (column - 1)
        if key <= previousKey { sorted = false }
        if n == 0 { out.firstKey = key }
        previousKey = key
        n += 1
        line += 1
    }
    out.count = n
    out.lines = line
    out.sortedByRow = sorted
    out.lastKey = previousKey
    if let failure {
        out.errorLine = line
        // A NUL byte or a too-long line is what is wrong with the line, whatever stopped the
        // parse first (a NUL ends any token); the chunk holds the whole line and its '\n'.
        out.errorMessage = lineLimitProblem(lineStart, available: end - lineStart) ?? failure
    }
}

private func parseArrayChunk(_ chunk: ByteRange, _ layout: DataLayout, _ tables: ParseTables, _ out: ChunkOutput, stopAtEntry: Int) {
    var p = chunk.start
    let end = chunk.end
    var line = 0
    var n = 0
    let store = stopAtEntry < 0
    let isInteger = layout.field == .integer
    var capacity = 0
    if store {
        capacity = max(64, (end - p) / 12)
        guard out.grow(to: capacity, indices: false, values: true) else {
            out.errorLine = 0
            out.errorMessage = "out of memory"
            return
        }
    }
    var values = out.values
    var failure: String?

    var lineStart = p
    scan: while p < end {
        lineStart = p
        var c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c == 0x0A {
            if p - lineStart > maximumLineLength { failure = overlongLineMessage; break scan }
            p += 1
            line += 1
            continue
        }
        if c == UInt8(ascii: "%") {
            let newline = UnsafePointer(memchr(p, 0x0A, end - p)!.assumingMemoryBound(to: UInt8.self))
            // A comment is skipped unread, except for the line rules: no NUL, not too long.
            if newline - lineStart > maximumLineLength || memchr(p, 0, newline - p) != nil { failure = overlongLineMessage; break scan }
            p = newline + 1
            line += 1
            continue
        }
        if n == stopAtEntry { out.stopLine = line; return }
        var value = 0.0
        if let problem = scanValue(&p, end, tables, layout, isInteger: isInteger, into: &value) { failure = problem; break scan }
        c = p.pointee
        while isBlank(c) { p += 1; c = p.pointee }
        if c != 0x0A {
            failure = "unexpected text '\(restOfLine(p))' after the value (an array file has one value per line)"
            break scan
        }
        if p - lineStart > maximumLineLength { failure = overlongLineMessage; break scan }
        p += 1
        if store {
            if n == capacity {
                capacity *= 2
                guard out.grow(to: capacity, indices: false, values: true) else { failure = "out of memory"; break scan }
                values = out.values
            }
            values![n] = value
        }
        n += 1
        line += 1
    }
    out.count = n
    out.lines = line
    if let failure {
        out.errorLine = line
        // A NUL byte or a too-long line is what is wrong with the line, whatever stopped the
        // parse first (a NUL ends any token); the chunk holds the whole line and its '\n'.
        out.errorMessage = lineLimitProblem(lineStart, available: end - lineStart) ?? failure
    }
}
