// CHyperReg: the C ABI of hyperreg, declared and documented in include/hyperreg.h.
//
// Every C function here is a `@_cdecl` wrapper that checks its arguments, calls the HyperReg
// library and turns every failure into an error code plus an error handle holding the message
// (never a trap). Handles are retained Swift objects passed as opaque pointers; each has a
// free function. Nothing here is shared between handles, so separate problems can be solved
// on separate threads at once; the thread count of a solve is scoped to it
// (`Parallelism.withThreadCount`), never set process-wide.

#if canImport(Glibc)
import Glibc
#endif
import HyperReg
import HyperRegReport
import SparseCore

/// The error codes of hyperreg.h (`HYPERREG_OK`, `HYPERREG_ERROR_*`).
enum ABICode: Int32 {
    case ok = 0
    /// A null pointer, a negative size, an unknown name or an index width other than 32 or 64.
    case invalidArgument = 1
    /// The CSR arrays break an invariant (offsets, column order, range).
    case invalidMatrix = 2
    /// b, w or x0 do not fit A, or hold a non-finite or negative (w) entry.
    case invalidProblem = 3
    /// An option out of range.
    case invalidOptions = 4
    /// The solver could not run: CHOLMOD or LAPACK failure, overflow before the start.
    case solverFailure = 5
    /// A file could not be read (`hyperreg_matrix_read`).
    case io = 6
}

/// A failure: code and message (`hyperreg_error`).
final class ABIError: Error {
    let code: ABICode
    let message: CString
    init(_ code: ABICode, _ message: String) {
        self.code = code
        self.message = CString(message)
    }
}

/// A NUL-terminated copy of a Swift string, alive as long as its owner (immutable, hence
/// safe to share between threads).
final class CString: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ text: String) {
        let bytes = Array(text.utf8)
        pointer = .allocate(capacity: bytes.count + 1)
        for (k, byte) in bytes.enumerated() { pointer[k] = CChar(bitPattern: byte) }
        pointer[bytes.count] = 0
    }
    deinit { pointer.deallocate() }
}

/// The handle of `object`: retained once, released by the matching free function.
func retainedHandle(_ object: AnyObject) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

/// The object behind `handle` (not retained again), or nil for null or a handle of another type.
func object<T: AnyObject>(_ handle: OpaquePointer?, as type: T.Type) -> T? {
    guard let handle else { return nil }
    return Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue() as? T
}

/// Releases the object behind `handle` (null is ignored).
func releaseHandle(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Runs `body`; on failure stores a new error handle in `error` (when not null) and returns
/// its code, else returns `HYPERREG_OK`.
func guarded(_ error: UnsafeMutablePointer<OpaquePointer?>?, _ body: () throws(ABIError) -> Void) -> Int32 {
    error?.pointee = nil
    do {
        try body()
        return ABICode.ok.rawValue
    } catch let failure {
        error?.pointee = retainedHandle(failure)
        return failure.code.rawValue
    }
}

/// The Swift string of a C string argument, or an `invalidArgument` error naming it.
func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(ABIError) -> String {
    guard let pointer else { throw ABIError(.invalidArgument, "\(what) is a null pointer") }
    return String(cString: pointer)
}

@_cdecl("hyperreg_error_code")
public func hyperreg_error_code(_ error: OpaquePointer?) -> Int32 {
    object(error, as: ABIError.self)?.code.rawValue ?? ABICode.invalidArgument.rawValue
}

@_cdecl("hyperreg_error_message")
public func hyperreg_error_message(_ error: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let e = object(error, as: ABIError.self) else { return nil }
    return UnsafePointer(e.message.pointer)
}

@_cdecl("hyperreg_error_free")
public func hyperreg_error_free(_ error: OpaquePointer?) {
    releaseHandle(error)
}

/// The version string, kept for the life of the process.
private let versionString = CString(HyperRegVersion.string)

@_cdecl("hyperreg_version")
public func hyperreg_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionString.pointer)
}
