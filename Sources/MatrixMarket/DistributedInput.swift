// The problem's inputs for a row-partitioned run (issue 17): this rank's block of A and its
// slices of b and w, from one file each (split by byte ranges, or read by rank 0 and
// scattered for gzip) or from pre-split parts (a `.parts` manifest written by
// `hyperreg partition`). docs/scale-out-reading.md.

import SparseCore

/// This rank's share of a problem's inputs: rows `rowOffset ..< rowOffset + matrix.rowCount`
/// of A, b and w.
public struct DistributedInput: Sendable {
    /// This rank's block of A: local rows, global columns.
    public let matrix: CSRMatrix
    /// This rank's slice of b.
    public let target: [Double]
    /// This rank's slice of w, when a weights file was given.
    public let weights: [Double]?
    /// The global index of this rank's first row.
    public let rowOffset: Int
    /// Rows of the whole A.
    public let globalRowCount: Int
    /// Stored entries of the whole A.
    public let globalNonzeroCount: Int

    /// Where this block sits, for the solver's passes.
    public func distribution(communicator: any Communicator) -> RowDistribution {
        RowDistribution(communicator: communicator, rowOffset: rowOffset, globalRowCount: globalRowCount, globalNonzeroCount: globalNonzeroCount)
    }

    /// Reads A, b and (when given) w collectively: every rank calls it with the same
    /// arguments and receives its rows. Each path is read as
    /// - a partition manifest (a path ending in `.parts`, written by `hyperreg partition`):
    ///   rank r reads part r, and the run must have as many ranks as there are parts;
    /// - any other file: `MatrixMarket.readMatrixBlock` / `readVectorSlice` (a plain file
    ///   split by byte ranges, a `.gz` file or standard input read whole by rank 0 and
    ///   scattered).
    ///
    /// With one rank and no manifest it returns exactly what `MatrixMarket.readMatrix` and
    /// `readVector` return (it calls them). It checks what needs the whole vectors: b and w
    /// have as many entries as A has rows, and w has no negative (or NaN) entry, with the
    /// messages of `hyperreg solve`.
    ///
    /// - Throws: `MatrixMarketError` naming the file (and line), the same on every rank.
    public static func read(matrix: String, target: String, weights: String?, communicator comm: any Communicator,
                            options: MatrixMarketReadOptions = .init()) throws(MatrixMarketError) -> DistributedInput {
        let a = try readMatrix(matrix, comm, options)
        let b = try readVector(target, comm, options)
        let w = try weights.map { path throws(MatrixMarketError) in try readVector(path, comm, options) }
        guard b.globalCount == a.globalRowCount else {
            throw MatrixMarketError(path: target, message: "b has \(b.globalCount) entries but \(matrix) has \(a.globalRowCount) rows")
        }
        if let path = weights, let w {
            guard w.globalCount == a.globalRowCount else {
                throw MatrixMarketError(path: path, message: "w has \(w.globalCount) entries but \(matrix) has \(a.globalRowCount) rows")
            }
            let bad = w.values.firstIndex { !($0 >= 0) }
            let local = bad.map { i in
                MatrixMarketError(path: path, message: "entry \(w.offset + i + 1) (row \(w.offset + i + 1) of w) is \(w.values[i]); weights must be >= 0")
            }
            try comm.agree(local)
        }
        return DistributedInput(matrix: a.matrix, target: b.values, weights: w?.values, rowOffset: a.rowOffset,
                                globalRowCount: a.globalRowCount, globalNonzeroCount: a.globalNonzeroCount)
    }

    private static func readMatrix(_ path: String, _ comm: any Communicator, _ options: MatrixMarketReadOptions) throws(MatrixMarketError) -> MatrixBlock {
        if MatrixMarketPartition.isManifest(path) { return try MatrixMarketPartition.readMatrixBlock(manifest: path, communicator: comm, options: options) }
        if comm.size == 1 {
            let a = try MatrixMarket.readMatrix(from: path, options: options).matrix
            return MatrixBlock(matrix: a, rowOffset: 0, globalRowCount: a.rowCount, globalNonzeroCount: a.nonzeroCount)
        }
        return try MatrixMarket.readMatrixBlock(from: path, communicator: comm, options: options)
    }

    private static func readVector(_ path: String, _ comm: any Communicator, _ options: MatrixMarketReadOptions) throws(MatrixMarketError) -> VectorSlice {
        if MatrixMarketPartition.isManifest(path) { return try MatrixMarketPartition.readVectorSlice(manifest: path, communicator: comm, options: options) }
        if comm.size == 1 {
            let v = try MatrixMarket.readVector(from: path, options: options)
            return VectorSlice(values: v, offset: 0, globalCount: v.count)
        }
        return try MatrixMarket.readVectorSlice(from: path, communicator: comm, options: options)
    }
}
