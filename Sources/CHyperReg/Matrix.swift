// Matrices read by the library (`hyperreg_matrix`): a Matrix Market file read into SparseCore's
// CSR arrays, whose storage the caller may look at (read-only) and turn into a problem without
// a copy.

import HyperReg
import MatrixMarket
import SparseCore

/// A matrix handle: the CSR matrix and the addresses of its arrays.
///
/// The arrays are `let` constants of this object, never mutated, so the storage of each stays
/// where it is for the object's life; the addresses are taken once.
final class ABIMatrix {
    let matrix: CSRMatrix
    /// The row offsets as 32-bit integers (nil when the entry count exceeds Int32.max), for
    /// callers whose CSR type wants both index arrays of one width (SciPy).
    let narrowOffsets: [Int32]?
    let offsetsAddress: UnsafeRawPointer?
    let narrowOffsetsAddress: UnsafeRawPointer?
    let indicesAddress: UnsafeRawPointer?
    let valuesAddress: UnsafeRawPointer?
    let readSeconds: Double

    init(matrix: CSRMatrix, readSeconds: Double) {
        self.matrix = matrix
        self.readSeconds = readSeconds
        narrowOffsets = matrix.nonzeroCount <= Int(Int32.max) ? matrix.rowOffsets.map { Int32(truncatingIfNeeded: $0) } : nil
        offsetsAddress = matrix.rowOffsets.withUnsafeBytes { $0.baseAddress }
        narrowOffsetsAddress = narrowOffsets?.withUnsafeBytes { $0.baseAddress }
        indicesAddress = matrix.columnIndices.withUnsafeBytes { $0.baseAddress }
        valuesAddress = matrix.values.withUnsafeBytes { $0.baseAddress }
    }
}

@_cdecl("hyperreg_matrix_read")
public func hyperreg_matrix_read(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                 _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let out else { throw ABIError(.invalidArgument, "matrix (the output) is a null pointer") }
        let file = try string(path, "path")
        let begin = ContinuousClock.now
        do throws(MatrixMarketError) {
            let a = try MatrixMarket.readMatrix(from: file).matrix
            out.pointee = retainedHandle(ABIMatrix(matrix: a, readSeconds: seconds(since: begin)))
        } catch {
            throw ABIError(.io, error.description)
        }
    }
}

@_cdecl("hyperreg_matrix_free")
public func hyperreg_matrix_free(_ matrix: OpaquePointer?) { releaseHandle(matrix) }

@_cdecl("hyperreg_matrix_rows")
public func hyperreg_matrix_rows(_ matrix: OpaquePointer?) -> Int64 {
    Int64(object(matrix, as: ABIMatrix.self)?.matrix.rowCount ?? -1)
}

@_cdecl("hyperreg_matrix_columns")
public func hyperreg_matrix_columns(_ matrix: OpaquePointer?) -> Int64 {
    Int64(object(matrix, as: ABIMatrix.self)?.matrix.columnCount ?? -1)
}

@_cdecl("hyperreg_matrix_nonzeros")
public func hyperreg_matrix_nonzeros(_ matrix: OpaquePointer?) -> Int64 {
    Int64(object(matrix, as: ABIMatrix.self)?.matrix.nonzeroCount ?? -1)
}

@_cdecl("hyperreg_matrix_seconds")
public func hyperreg_matrix_seconds(_ matrix: OpaquePointer?) -> Double {
    object(matrix, as: ABIMatrix.self)?.readSeconds ?? .nan
}

@_cdecl("hyperreg_matrix_row_offsets")
public func hyperreg_matrix_row_offsets(_ matrix: OpaquePointer?, _ indexBits: Int32) -> UnsafeRawPointer? {
    guard let m = object(matrix, as: ABIMatrix.self) else { return nil }
    switch indexBits {
    case 64: return m.offsetsAddress
    case 32: return m.narrowOffsetsAddress
    default: return nil
    }
}

@_cdecl("hyperreg_matrix_column_indices")
public func hyperreg_matrix_column_indices(_ matrix: OpaquePointer?) -> UnsafeRawPointer? {
    object(matrix, as: ABIMatrix.self)?.indicesAddress
}

@_cdecl("hyperreg_matrix_values")
public func hyperreg_matrix_values(_ matrix: OpaquePointer?) -> UnsafeRawPointer? {
    object(matrix, as: ABIMatrix.self)?.valuesAddress
}

@_cdecl("hyperreg_problem_create_from_matrix")
public func hyperreg_problem_create_from_matrix(_ matrix: OpaquePointer?, _ target: UnsafePointer<Double>?,
                                                _ weights: UnsafePointer<Double>?, _ weightCount: Int64, _ function: UnsafePointer<CChar>?,
                                                _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let m = object(matrix, as: ABIMatrix.self) else { throw ABIError(.invalidArgument, "matrix is a null pointer") }
        guard let out else { throw ABIError(.invalidArgument, "problem (the output) is a null pointer") }
        out.pointee = try makeProblem(m.matrix, target: target, weights: weights, weightCount: weightCount, function: function,
                                      begin: ContinuousClock.now)
    }
}

@_cdecl("hyperreg_problem_values")
public func hyperreg_problem_values(_ problem: OpaquePointer?) -> UnsafeRawPointer? {
    object(problem, as: ABIProblem.self)?.problem.matrix.values.withUnsafeBytes { $0.baseAddress }
}
