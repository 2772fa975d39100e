// From coordinate chunks to a CSR matrix.
//
// A file whose entries are already strictly increasing in (row, column) (general
// symmetry) is concatenated. Otherwise the entries are first copied into row buckets
// (blocks of 2^shift rows): each chunk counts its entries per bucket, and with cursors
// prefixed in (bucket, chunk) order, chunks copy in parallel while keeping file order
// within every bucket. Then each bucket, in parallel, counts its rows, scatters into them
// (cache-local: a bucket's rows and destination are small), sorts each row by column
// (stable) and sums duplicates in file order. Every step is a function of the chunk list,
// so the result does not depend on the thread count.
//
// Memory: a chunk is freed as soon as it has been copied, and the bucket arrays become the
// CSR arrays in place (each bucket is reordered through a bucket-sized scratch), so the
// peak is about the 16 bytes per entry of the parsed (row, column, value) triplets, not
// triplets plus buckets plus CSR. The row-sorted path frees the row indices after counting
// and each chunk after copying it.

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
        // About 256 buckets (fewer when there are very many chunks): each bucket's rows and
        // destination then stay cache-resident while it is scattered.
        var bucketShift = 0
        while (n >> bucketShift) > 256 || (chunkCount * ((n - 1) >> bucketShift + 1) > 1 << 22 && bucketShift < 62) { bucketShift += 1 }
        let shift = bucketShift
        let bucketCount = ((n - 1) >> shift) + 1

        // 1. Entries per (chunk, bucket), mirrored entries included.
        let cursors = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunkCount * bucketCount)
        cursors.initialize(repeating: 0)
        defer { cursors.deallocate() }
        let sharedCursors = SharedBuffer(cursors)
        let chunkList = chunks
        Parallelism.forEachChunk(chunkCount) { c in
            let chunk = chunkList[c]
            guard let rows = chunk.rows, let columns = chunk.columns else { return }
            let counts = sharedCursors.buffer.baseAddress! + c * bucketCount
            for k in 0 ..< chunk.count {
                let r = Int(rows[k]), j = Int(columns[k])
                counts[r >> shift] += 1
                if mirror && r != j { counts[j >> shift] += 1 }
            }
        }
        // 2. Cursors: exclusive prefix sums in (bucket, chunk) order.
        var bucketStart = [Int](repeating: 0, count: bucketCount + 1)
        var running = 0
        for b in 0 ..< bucketCount {
            bucketStart[b] = running
            for c in 0 ..< chunkCount {
                let count = cursors[c * bucketCount + b]
                cursors[c * bucketCount + b] = running
                running += count
            }
        }
        bucketStart[bucketCount] = running
        let total = running

        // 3. Copy into buckets, in parallel over chunks. The column and value buckets are the
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
                Parallelism.forEachChunk(chunkCount) { c in
                    let chunk = chunkList[c]
                    guard let rows = chunk.rows, let columns = chunk.columns else { return }
                    let chunkValues = chunk.values
                    let cursor = sharedCursors.buffer.baseAddress! + c * bucketCount
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
                chunks = []

                // 4. Per bucket: row counts, scatter into rows (in place, through a copy of the
                // bucket), sort rows, sum duplicates.
                offsets.withUnsafeMutableBufferPointer { offsetBuffer in
                    lengths.withUnsafeMutableBufferPointer { lengthBuffer in
                        let o = SharedBuffer(offsetBuffer), cols = sharedColumns, vals = sharedValues
                        let lens = SharedBuffer(lengthBuffer), flags = SharedBuffer(changed)
                        Parallelism.forEachChunk(bucketCount) { b in
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

    /// The row-sorted case: count entries per row, concatenate columns and values. Row
    /// indices are freed once counted and each chunk once copied, so the peak stays near the
    /// parsed triplets' size rather than triplets plus CSR.
    static func assembleSorted(_ data: ParsedData, _ h: MatrixMarketHeader) -> CSRMatrix {
        let n = h.rowCount
        var offsets = [Int](repeating: 0, count: n + 1)
        offsets.withUnsafeMutableBufferPointer { counts in
            for case let chunk? in data.chunks {
                guard let rows = chunk.rows else { continue }
                for k in 0 ..< chunk.count { counts[Int(rows[k]) + 1] += 1 }
                chunk.releaseRows()
            }
            for i in 0 ..< n { counts[i + 1] += counts[i] }
        }
        let total = offsets[n]
        var columnIndices = [Int32](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        var values = [Double](unsafeUninitializedCapacity: total) { _, initialized in initialized = total }
        columnIndices.withUnsafeMutableBufferPointer { columnBuffer in
            values.withUnsafeMutableBufferPointer { valueBuffer in
                var position = 0
                for index in data.chunks.indices {
                    guard let chunk = data.chunks[index], chunk.count > 0 else { continue }
                    (columnBuffer.baseAddress! + position).update(from: chunk.columns!, count: chunk.count)
                    if let chunkValues = chunk.values {
                        (valueBuffer.baseAddress! + position).update(from: chunkValues, count: chunk.count)
                    } else {
                        (valueBuffer.baseAddress! + position).update(repeating: 1, count: chunk.count)
                    }
                    position += chunk.count
                    chunk.release()
                    data.chunks[index] = nil  // free this chunk's entries now
                }
            }
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
