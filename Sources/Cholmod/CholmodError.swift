internal import CSuiteSparse

/// An error from CHOLMOD, or from the checks this module makes before calling it.
///
/// Modelled on swift-system's `Errno`: each case names the CHOLMOD status it stands for
/// (`cholmod_common.status` after the failing call). Only `notPositiveDefinite` is routinely
/// recoverable: the factor that threw it can be factorized again, e.g. with a larger shift.
public enum CholmodError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The matrix (with its shift) is not positive definite.
    ///
    /// The corresponding CHOLMOD status is `CHOLMOD_NOT_POSDEF` (1), a warning.
    /// `column` is the factor's failing pivot (`L->minor`), counted in the factor's pivot
    /// order: with `CholmodOrdering.natural` it is the matrix column itself, otherwise the
    /// matrix column is `permutation[column]` of the factor that threw.
    case notPositiveDefinite(column: Int)
    /// CHOLMOD could not allocate memory.
    ///
    /// The corresponding CHOLMOD status is `CHOLMOD_OUT_OF_MEMORY` (-2).
    case outOfMemory
    /// An integer overflow: the problem is too large for CHOLMOD (or for the BLAS), or too
    /// large for this module's `Int32` interface (more than `Int32.max` entries or rows).
    ///
    /// The corresponding CHOLMOD status is `CHOLMOD_TOO_LARGE` (-3).
    case tooLarge
    /// Invalid input, found by CHOLMOD or (usually) by this module's own checks before any
    /// CHOLMOD call: dimensions, pattern consistency, non-finite values, a solve before a
    /// successful factorisation. The message says which.
    ///
    /// The corresponding CHOLMOD status is `CHOLMOD_INVALID` (-4).
    case invalid(String)
    /// A CHOLMOD module needed for the call is not part of the installed library.
    ///
    /// The corresponding CHOLMOD status is `CHOLMOD_NOT_INSTALLED` (-1).
    case notInstalled
    /// Any other status, e.g. `CHOLMOD_GPU_PROBLEM` (-5), the `CHOLMOD_DSMALL` warning (2),
    /// or a call that failed without setting a status (0).
    case other(status: Int, String)

    /// A readable description naming the CHOLMOD constant.
    public var description: String {
        switch self {
        case .notPositiveDefinite(let column):
            return "matrix is not positive definite: the Cholesky factorisation failed at pivot \(column) (CHOLMOD_NOT_POSDEF)"
        case .outOfMemory:
            return "CHOLMOD ran out of memory (CHOLMOD_OUT_OF_MEMORY)"
        case .tooLarge:
            return "problem too large for CHOLMOD's 32-bit integer interface (CHOLMOD_TOO_LARGE)"
        case .invalid(let message):
            return "invalid input to CHOLMOD: \(message) (CHOLMOD_INVALID)"
        case .notInstalled:
            return "CHOLMOD method not installed (CHOLMOD_NOT_INSTALLED)"
        case .other(let status, let message):
            return "CHOLMOD status \(status): \(message)"
        }
    }

    /// The error for a fatal or unexpected CHOLMOD `status` reported by `function`.
    /// `CHOLMOD_NOT_POSDEF` is not handled here: it needs the factor's `minor`.
    init(status: Int32, function: String) {
        switch status {
        case CHOLMOD_NOT_INSTALLED: self = .notInstalled
        case CHOLMOD_OUT_OF_MEMORY: self = .outOfMemory
        case CHOLMOD_TOO_LARGE: self = .tooLarge
        case CHOLMOD_INVALID: self = .invalid("\(function) rejected its input")
        case CHOLMOD_GPU_PROBLEM: self = .other(status: Int(status), "\(function): GPU problem (CHOLMOD_GPU_PROBLEM)")
        case CHOLMOD_DSMALL: self = .other(status: Int(status), "\(function): tiny diagonal entry (CHOLMOD_DSMALL)")
        case CHOLMOD_OK: self = .other(status: 0, "\(function) failed without reporting a status")
        default: self = .other(status: Int(status), "\(function) returned an unknown status")
        }
    }
}
