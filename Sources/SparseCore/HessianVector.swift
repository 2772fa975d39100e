// One-pass Hessian-vector products (issue 14, item 1): for row weights delta and up to four
// vectors v_m, one sweep over the rows forms (A v_m)_i by a row dot and adds
// a_i delta_i (A v_m)_i into chunk-owned partials (`ChunkPartials`, SIMD4 lanes as in
// `transposeMultiplyFour`), so `A^T diag(delta) A v_m` and `A v_m` cost one read of A.
// The partials are combined in chunk order: the same bits for any thread count.

extension CSRMatrix {
    /// `A^T diag(delta) (A v_m)` and `A v_m` for every `v_m` of `vectors`, one streaming pass
    /// per group of up to four vectors (each row is read once for the group: its dot with
    /// the four vectors as one SIMD4 lane each, then the scaled row update).
    /// - Precondition: `delta.count == rowCount`, every `v_m.count == columnCount`.
    public func weightedNormalProducts(weights delta: [Double], _ vectors: [[Double]]) -> (products: [[Double]], forward: [[Double]]) {
        precondition(delta.count == rowCount, "weightedNormalProducts: delta has \(delta.count) entries, A has \(rowCount) rows")
        for v in vectors {
            precondition(v.count == columnCount, "weightedNormalProducts: v has \(v.count) entries, A has \(columnCount) columns")
        }
        var products = [[Double]](), forward = [[Double]]()
        var g = 0
        while g < vectors.count {
            let width = min(4, vectors.count - g)
            let group = width == 1 ? weightedNormalSingle(delta, vectors[g]) : weightedNormalFour(delta, Array(vectors[g ..< g + width]))
            products += group.products
            forward += group.forward
            g += width
        }
        return (products, forward)
    }

    /// One vector: scalar partials (the same operations as one SIMD4 lane, so the same bits,
    /// at a quarter of the partials' memory traffic; Newton-CG applies H to one vector at a time).
    private func weightedNormalSingle(_ delta: [Double], _ v: [Double]) -> (products: [[Double]], forward: [[Double]]) {
        var av = [Double](repeating: 0, count: rowCount)
        let product = weightedNormalProduct(weights: delta, v, forward: &av)
        return ([product], [av])
    }

    /// `A^T diag(delta) (A v)` for one vector, `A v` written into `forward` (every entry
    /// overwritten; a buffer the caller re-uses). One streaming pass; the same bits as
    /// `weightedNormalProducts(weights:_:)` with one vector.
    /// - Precondition: `delta.count == rowCount == forward.count`, `v.count == columnCount`.
    public func weightedNormalProduct(weights delta: [Double], _ v: [Double], forward av: inout [Double]) -> [Double] {
        precondition(delta.count == rowCount && av.count == rowCount, "weightedNormalProduct: delta and forward need \(rowCount) entries")
        precondition(v.count == columnCount, "weightedNormalProduct: v has \(v.count) entries, A has \(columnCount) columns")
        let d = columnCount
        let part = transposePartition
        var product: [Double] = ChunkPartials.with(parts: part.count, width: d, zero: 0.0) { partials in
            v.withUnsafeBufferPointer { vb in
                delta.withUnsafeBufferPointer { db in
                    av.withUnsafeMutableBufferPointer { ab in
                        let x = SharedReadBuffer(vb), w = SharedReadBuffer(db), out = SharedBuffer(ab)
                        withRowChunksIndexed(part) { c, rows, p in
                            let block = partials.block(c)
                            for i in rows {
                                let lo = p.rowOffsets[i], hi = p.rowOffsets[i + 1]
                                var dotv = 0.0
                                for e in lo ..< hi { dotv += p.values[e] * x.buffer[Int(p.columnIndices[e])] }
                                out.buffer[i] = dotv
                                let scaled = w.buffer[i] * dotv
                                if scaled == 0 { continue }
                                for e in lo ..< hi { block[Int(p.columnIndices[e])] += p.values[e] * scaled }
                            }
                        }
                    }
                }
            }
            return partials.sum()
        }
        combineOverRanks(&product)
        return product
    }

    /// One group of `vs.count` <= 4 vectors: the vectors interleaved into d SIMD4 lanes (unused
    /// lanes zero), one pass writing `A v` per row and `delta_i (a_i . v) a_i` into the partials.
    private func weightedNormalFour(_ delta: [Double], _ vs: [[Double]]) -> (products: [[Double]], forward: [[Double]]) {
        let d = columnCount, n = rowCount, width = vs.count
        var lanes = [SIMD4<Double>](repeating: .zero, count: d)
        for m in 0 ..< width { for j in 0 ..< d { lanes[j][m] = vs[m][j] } }
        var av = [SIMD4<Double>](repeating: .zero, count: n)
        let part = transposePartition
        let products: [[Double]] = ChunkPartials.with(parts: part.count, width: d, zero: SIMD4<Double>.zero) { partials in
            lanes.withUnsafeBufferPointer { lb in
                delta.withUnsafeBufferPointer { db in
                    av.withUnsafeMutableBufferPointer { ab in
                        let x = SharedReadBuffer(lb), w = SharedReadBuffer(db), out = SharedBuffer(ab)
                        withRowChunksIndexed(part) { c, rows, p in
                            let block = partials.block(c)
                            for i in rows {
                                let lo = p.rowOffsets[i], hi = p.rowOffsets[i + 1]
                                var dotv = SIMD4<Double>.zero
                                for e in lo ..< hi { dotv += p.values[e] * x.buffer[Int(p.columnIndices[e])] }
                                out.buffer[i] = dotv
                                let scaled = w.buffer[i] * dotv
                                if scaled == .zero { continue }
                                for e in lo ..< hi { block[Int(p.columnIndices[e])] += p.values[e] * scaled }
                            }
                        }
                    }
                }
            }
            return (0 ..< width).map { m in
                var r = [Double](repeating: 0, count: d)
                r.withUnsafeMutableBufferPointer { rb in
                    partials.forEachInOrder { block in
                        for j in 0 ..< d { rb[j] += block[j][m] }
                    }
                }
                return r
            }
        }
        let combined = combineOverRanks(products)
        let forward = (0 ..< width).map { m in av.map { $0[m] } }
        return (combined, forward)
    }
}
