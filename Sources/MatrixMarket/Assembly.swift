// From coordinate chunks to a CSR matrix.
//
// A file whose entries are already strictly increasing in (row, column) (general
// symmetry) is concatenated: one parallel pass in which each chunk writes the row offsets
// of the rows starting in it and copies its columns and values to their place. Otherwise
// the entries are first copied into row buckets (blocks of 2^shift rows, about 256): the
// chunks are taken in at most 1024 groups of consecutive chunks; each group counts its
// entries per bucket, and with cursors prefixed in (bucket, group) order, groups copy in
// parallel while keeping file order within every bucket. Then each bucket, in parallel,
// counts its rows, scatters into them (cache-local: a bucket's rows and destination are
// small), sorts each row by column (stable) and sums duplicates in file order. Every step
// is a function of the chunk list, so the result does not depend on the thread count.
// Parallel steps hand out chunks, groups or buckets to threads as they free up
// (`forEachChunkClaimed`); what runs serially is O(chunks + groups x buckets + rows) of
// bookkeeping, plus the compaction of rows that lost duplicates (only when there are any).
//
// Memory: a chunk is freed as soon as it has been copied, and the bucket arrays become the
// CSR arrays in place (each bucket is reordered through a bucket-sized scratch), so the
// peak is about the 16 bytes per entry of the parsed (row, column, value) triplets, not
// triplets plus buckets plus CSR. The row-sorted path frees each chunk once copied.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SparseCore

extension Reader {
    static func assembleCoordinate(_ data: ParsedData, _ h: MatrixMarketHeader) -> CSRMatrix {
        let n = h.rowCount
        let mirror = h.symmetry != .general
        if !mirror && isSortedByRow(data) { return assembleSorted(data, h) }
        let negate = h.symmetry == .skewSymmetric
        var chunks = data.chunks.compactMap { $0 }
        data.chunks = []
        let chunkCount = chunks.count
        guard n > 0, chunkCount > 0 else {
            return CSRMatrix(uncheckedRowCount: n, columnCount: h.columnCount, rowOffsets: [Int](repeating: 0, count: n + 1), columnIndices: [], values: [])
        }
        // About 256 buckets (one row block each, fewer only when there are fewer rows): each
        // bucket's rows and destination then stay cache-resident while it is scattered.
        var bucketShift = 0
        while (n >> bucketShift) > 256 { bucketShift += 1 }
        let shift = bucketShift
        let bucketCount = ((n - 1) >> shift) + 1
        // Steps 1 and 3 run over groups of consecutive chunks (at most 1024 groups, each
        // taking its chunks in file order), so the (group, bucket) cursors stay small however
        // many chunks a long stream yields, and the bucket count never shrinks for it.
        let groupCount = min(chunkCount, 1024)
        @Sendable func groupChunks(_ g: Int) -> Range<Int> { chunkCount * g / groupCount ..< chunkCount * (g + 1) / groupCount }

        // 1. Entries per (group, bucket), mirrored entries included.
        let cursors = UnsafeMutableBufferPointer<Int>.allocate(capacity: groupCount * bucketCount)
        cursors.initialize(repeating: 0)
        defer { cursors.deallocate() }
        let sharedCursors = SharedBuffer(cursors)
        let chunkList = chunks
        forEachChunkClaimed(groupCount) { g in
            let counts = sharedCursors.buffer.baseAddress! + g * bucketCount
            for c in groupChunks(g) {
                let chunk = chunkList[c]
                guard let rows = chunk.rows, let columns = chunk.columns else { continue }
                for k in 0 ..< chunk.count {
                    let r = Int(rows[k]), j = Int(columns[k])
                    counts[r >> shift] += 1
                    if mirror && r != j { counts[j >> shift] += 1 }
                }
            }
        }
        // 2. Cursors: exclusive prefix sums in (bucket, group) order.
        var bucketStart = [Int](repeating: 0, count: bucketCount + 1)
        var running = 0
        for b in 0 ..< bucketCount {
            bucketStart[b] = running
            for g in 0 ..< groupCount {
                let count = cursors[g * bucketCount + b]
                cursors[g * bucketCount + b] = running
                running += count
            }
        }
        bucketStart[bucketCount] = running
        let total = running

        // 3. Copy into buckets, in parallel over groups. The column and value buckets are the
        // final CSR arrays (step 4 reorders each bucket in place); each chunk is freed as soon
        // as it is copied, so triplets and buckets are not held in full at the same time.
        let bucketRows = UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(total, 1))
        defer { bucketRows.deallocate() }
        var columnIndices = [Int32](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        var values = [Double](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        var offsets = [Int](repeating: 0, count: n + 1)
        var lengths = [Int](repeating: 0, count: n)
        let changed = UnsafeMutableBufferPointer<Bool>.allocate(capacity: bucketCount)
        changed.initialize(repeating: false)
        defer { changed.deallocate() }
        let starts = bucketStart
        columnIndices.withUnsafeMutableBufferPointer { bucketColumns in
            values.withUnsafeMutableBufferPointer { bucketValues in
                let sharedRows = SharedBuffer(bucketRows), sharedColumns = SharedBuffer(bucketColumns), sharedValues = SharedBuffer(bucketValues)
                forEachChunkClaimed(groupCount) { g in
                    let cursor = sharedCursors.buffer.baseAddress! + g * bucketCount
                    for c in groupChunks(g) {
                        let chunk = chunkList[c]
                        guard let rows = chunk.rows, let columns = chunk.columns else { continue }
                        let chunkValues = chunk.values
                        let outRows = sharedRows.buffer.baseAddress!, outColumns = sharedColumns.buffer.baseAddress!, outValues = sharedValues.buffer.baseAddress!
                        for k in 0 ..< chunk.count {
                            let r = rows[k], j = columns[k]
                            let v = chunkValues?[k] ?? 1
                            let slot = cursor[Int(r) >> shift]
                            cursor[Int(r) >> shift] = slot + 1
                            outRows[slot] = r
                            outColumns[slot] = j
                            outValues[slot] = v
                            if mirror && r != j {
                                let mirrored = cursor[Int(j) >> shift]
                                cursor[Int(j) >> shift] = mirrored + 1
                                outRows[mirrored] = j
                                outColumns[mirrored] = r
                                outValues[mirrored] = negate ? -v : v
                            }
                        }
                        chunk.release()  // copied: its entries are no longer needed
                    }
                }
                chunks = []

                // 4. Per bucket: row counts, scatter into rows (in place, through a copy of the
                // bucket), sort rows, sum duplicates.
                offsets.withUnsafeMutableBufferPointer { offsetBuffer in
                    lengths.withUnsafeMutableBufferPointer { lengthBuffer in
                        let o = SharedBuffer(offsetBuffer), cols = sharedColumns, vals = sharedValues
                        let lens = SharedBuffer(lengthBuffer), flags = SharedBuffer(changed)
                        forEachChunkClaimed(bucketCount) { b in
                            let firstRow = b << shift, endRow = min(n, firstRow + (1 << shift))
                            let start = starts[b], end = starts[b + 1]
                            let inRows = sharedRows.buffer
                            let inColumns = [Int32](cols.buffer[start ..< end]), inValues = [Double](vals.buffer[start ..< end])
                            // Row ends: this bucket writes offsets[firstRow + 1 ... endRow].
                            for k in start ..< end { o.buffer[Int(inRows[k]) + 1] += 1 }
                            var next = [Int](repeating: 0, count: endRow - firstRow)
                            var position = start
                            for r in firstRow ..< endRow {
                                next[r - firstRow] = position
                                position += o.buffer[r + 1]
                                o.buffer[r + 1] = position
                            }
                            for k in start ..< end {
                                let local = Int(inRows[k]) - firstRow
                                let slot = next[local]
                                next[local] = slot + 1
                                cols.buffer[slot] = inColumns[k - start]
                                vals.buffer[slot] = inValues[k - start]
                            }
                            var anyChanged = false
                            var scratch: [UInt64] = []
                            var scratchValues: [Double] = []
                            var rowStart = start
                            for r in firstRow ..< endRow {
                                let rowEnd = o.buffer[r + 1]
                                let kept = sortRow(cols.buffer.baseAddress! + rowStart, vals.buffer.baseAddress! + rowStart, rowEnd - rowStart, &scratch, &scratchValues)
                                lens.buffer[r] = kept
                                if kept != rowEnd - rowStart { anyChanged = true }
                                rowStart = rowEnd
                            }
                            flags.buffer[b] = anyChanged
                        }
                    }
                }
            }
        }
        guard changed.contains(true) else {
            return CSRMatrix(uncheckedRowCount: n, columnCount: h.columnCount, rowOffsets: offsets, columnIndices: columnIndices, values: values)
        }
        // 5. Compact rows that lost duplicates.
        var newOffsets = [Int](repeating: 0, count: n + 1)
        var write = 0
        columnIndices.withUnsafeMutableBufferPointer { cols in
            values.withUnsafeMutableBufferPointer { vals in
                for i in 0 ..< n {
                    let start = offsets[i]
                    let length = lengths[i]
                    if write != start {
                        for k in 0 ..< length {
                            cols[write + k] = cols[start + k]
                            vals[write + k] = vals[start + k]
                        }
                    }
                    write += length
                    newOffsets[i + 1] = write
                }
            }
        }
        columnIndices.removeLast(total - write)
        values.removeLast(total - write)
        return CSRMatrix(uncheckedRowCount: n, columnCount: h.columnCount, rowOffsets: newOffsets, columnIndices: columnIndices, values: values)
    }

    /// True when all entries, across chunks, are strictly increasing in (row, column):
    /// then the CSR arrays are the file's columns and values in order.
    static func isSortedByRow(_ data: ParsedData) -> Bool {
        var previous = -1
        for case let chunk? in data.chunks where chunk.count > 0 {
            guard chunk.sortedByRow, chunk.firstKey > previous else { return false }
            previous = chunk.lastKey
        }
        return true
    }

    /// The row-sorted case, one parallel pass over the chunks: each chunk writes the row
    /// offsets of the rows that start inside it and copies its columns and values to its
    /// place (the entries before it), then frees its entries. The rows are non-decreasing
    /// across chunks, so chunk c writes `offsets[r]` exactly for the rows r after the last
    /// row of the nonempty chunk before it, up to its own last row: disjoint ranges, and the
    /// same array for any thread count or order. The peak stays near the parsed triplets'
    /// size (each chunk's 16 bytes per entry become 12 of CSR), not triplets plus CSR.
    static func assembleSorted(_ data: ParsedData, _ h: MatrixMarketHeader) -> CSRMatrix {
        let n = h.rowCount
        let chunkList = data.chunks
        data.chunks = []
        let chunkCount = chunkList.count
        // Where each chunk's entries go, and the last row before it (-1: none).
        var positions = [Int](repeating: 0, count: chunkCount)
        var rowsBefore = [Int](repeating: -1, count: chunkCount)
        var total = 0, lastRow = -1
        for c in 0 ..< chunkCount {
            positions[c] = total
            rowsBefore[c] = lastRow
            if let chunk = chunkList[c], chunk.count > 0 {
                total += chunk.count
                lastRow = chunk.lastKey >> 32
            }
        }
        let entryCount = total, finalRow = lastRow
        var offsets = [Int](unsafeUninitializedCapacity: n + 1) { _, initialized in initialized = n + 1 }
        var columnIndices = [Int32](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        var values = [Double](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        let starts = positions, previous = rowsBefore
        offsets.withUnsafeMutableBufferPointer { offsetBuffer in
            columnIndices.withUnsafeMutableBufferPointer { columnBuffer in
                values.withUnsafeMutableBufferPointer { valueBuffer in
                    let o = SharedBuffer(offsetBuffer), cols = SharedBuffer(columnBuffer), vals = SharedBuffer(valueBuffer)
                    forEachChunkClaimed(chunkCount) { c in
                        guard let chunk = chunkList[c], chunk.count > 0, let rows = chunk.rows else { return }
                        let count = chunk.count, base = starts[c]
                        let offsets = o.buffer.baseAddress!
                        var row = previous[c]
                        for k in 0 ..< count {
                            let r = Int(rows[k])
                            // Rows row + 1 ... r (r and any empty rows before it) start here.
                            while row < r {
                                row += 1
                                offsets[row] = base + k
                            }
                        }
                        chunk.releaseRows()
                        (cols.buffer.baseAddress! + base).update(from: chunk.columns!, count: count)
                        if let chunkValues = chunk.values {
                            (vals.buffer.baseAddress! + base).update(from: chunkValues, count: count)
                        } else {
                            (vals.buffer.baseAddress! + base).update(repeating: 1, count: count)
                        }
                        chunk.release()  // copied: free this chunk's entries now
                    }
                }
            }
            // The rows after the last entry's row (all of them when there is no entry) end
            // the matrix.
            let first = finalRow + 1
            (offsetBuffer.baseAddress! + first).update(repeating: entryCount, count: n + 1 - first)
        }
        return CSRMatrix(uncheckedRowCount: n, columnCount: h.columnCount, rowOffsets: offsets, columnIndices: columnIndices, values: values)
    }

    /// Sorts one row's `count` entries by column (stable) and sums equal columns in order.
    /// Returns the number of entries kept (at the front).
    static func sortRow(_ cols: UnsafeMutablePointer<Int32>, _ vals: UnsafeMutablePointer<Double>, _ count: Int,
                        _ scratch: inout [UInt64], _ scratchValues: inout [Double]) -> Int {
        if count < 2 { return count }
        var strictlyIncreasing = true
        for k in 1 ..< count where cols[k] <= cols[k - 1] { strictlyIncreasing = false; break }
        if strictlyIncreasing { return count }
        if count <= 32 {
            // Stable insertion sort.
            for k in 1 ..< count {
                let c = cols[k], v = vals[k]
                var j = k
                while j > 0 && cols[j - 1] > c {
                    cols[j] = cols[j - 1]
                    vals[j] = vals[j - 1]
                    j -= 1
                }
                cols[j] = c
                vals[j] = v
            }
        } else {
            // Sort (column, position) keys: unique, so the order is the stable one.
            scratch.removeAll(keepingCapacity: true)
            for k in 0 ..< count { scratch.append(UInt64(UInt32(bitPattern: cols[k])) << 32 | UInt64(k)) }
            scratch.sort()
            scratchValues.removeAll(keepingCapacity: true)
            for k in 0 ..< count { scratchValues.append(vals[k]) }
            for k in 0 ..< count {
                let key = scratch[k]
                cols[k] = Int32(truncatingIfNeeded: key >> 32)
                vals[k] = scratchValues[Int(key & 0xFFFF_FFFF)]
            }
        }
        // Sum runs of equal columns.
        var write = 0
        var k = 0
        while k < count {
            let c = cols[k]
            var s = vals[k]
            k += 1
            while k < count && cols[k] == c { s += vals[k]; k += 1 }
            cols[write] = c
            vals[write] = s
            write += 1
        }
        return write
    }
}
