// The problem, options and result handles of the C ABI, and `hyperreg_solve`.

#if canImport(Glibc)
import Glibc
#endif
import HyperReg
import HyperRegReport
import SparseCore
import Synchronization

/// Seconds elapsed since `start`.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let c = (ContinuousClock.now - start).components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

// MARK: - Problems

/// A problem handle (`hyperreg_problem`): the checked problem, owning its own copy of the data,
/// or reading the caller's CSR arrays in place (`hyperreg_problem_create_borrowed`).
final class ABIProblem {
    let problem: Problem
    /// The uniform weight when w was given as one number (for the report's `inputs`).
    let uniformWeight: Double?
    /// Seconds spent copying and checking the arrays (the report's `read_seconds`).
    let buildSeconds: Double
    init(problem: Problem, uniformWeight: Double?, buildSeconds: Double) {
        self.problem = problem
        self.uniformWeight = uniformWeight
        self.buildSeconds = buildSeconds
    }
}

/// `count` Doubles from `pointer` (null allowed only when `count` is 0), named `what` in errors.
func doubles(_ pointer: UnsafePointer<Double>?, _ count: Int, _ what: String) throws(ABIError) -> [Double] {
    if count == 0 { return [] }
    guard let pointer else { throw ABIError(.invalidArgument, "\(what) is a null pointer") }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

/// The CSR matrix of the C arrays: one copy into SparseCore's layout (row offsets `Int`,
/// column indices `Int32`, values `Double`), then every invariant checked. With `borrow`, the
/// arrays already in that layout are used in place, not copied (`CSRBuffer(borrowing:)`): the
/// values always, the column indices when 32-bit, the row offsets when 64-bit; the caller keeps
/// them allocated and unchanged while the matrix lives.
func csrMatrix(rows: Int64, columns: Int64, nonzeros: Int64, rowOffsets: UnsafeRawPointer?, columnIndices: UnsafeRawPointer?,
               indexBits: Int32, values: UnsafePointer<Double>?, borrow: Bool = false) throws(ABIError) -> CSRMatrix {
    guard rows >= 0, columns >= 0, nonzeros >= 0 else {
        throw ABIError(.invalidArgument, "negative size: rows \(rows), columns \(columns), nonzeros \(nonzeros)")
    }
    guard columns <= Int64(Int32.max) else { throw ABIError(.invalidMatrix, "A has \(columns) columns, more than the 2147483647 that 32-bit column indices address") }
    guard indexBits == 32 || indexBits == 64 else { throw ABIError(.invalidArgument, "index_bits is \(indexBits): it must be 32 or 64") }
    guard let rowOffsets else { throw ABIError(.invalidArgument, "row_offsets is a null pointer") }
    let n = Int(rows), nnz = Int(nonzeros)
    if nnz > 0, columnIndices == nil { throw ABIError(.invalidArgument, "column_indices is a null pointer") }
    let offsets: CSRBuffer<Int>
    if indexBits == 64 {
        let wide = UnsafeBufferPointer(start: rowOffsets.assumingMemoryBound(to: Int.self), count: n + 1)
        offsets = borrow ? CSRBuffer(borrowing: wide) : CSRBuffer(Array(wide))
    } else {
        let narrow = UnsafeBufferPointer(start: rowOffsets.assumingMemoryBound(to: Int32.self), count: n + 1)
        offsets = CSRBuffer(narrow.map { Int($0) })
    }
    guard offsets[n] == nnz else {
        throw ABIError(.invalidMatrix, "row_offsets[\(n)] is \(offsets[n]) but nonzeros is \(nnz)")
    }
    var indices: CSRBuffer<Int32> = []
    if nnz > 0, let columnIndices {
        if indexBits == 32 {
            let narrow = UnsafeBufferPointer(start: columnIndices.assumingMemoryBound(to: Int32.self), count: nnz)
            indices = borrow ? CSRBuffer(borrowing: narrow) : CSRBuffer(Array(narrow))
        } else {
            let wide = UnsafeBufferPointer(start: columnIndices.assumingMemoryBound(to: Int64.self), count: nnz)
            if let k = wide.firstIndex(where: { $0 < 0 || $0 >= columns }) {
                throw ABIError(.invalidMatrix, "column_indices[\(k)] = \(wide[k]) is outside 0..<\(columns)")
            }
            indices = CSRBuffer(wide.map { Int32(truncatingIfNeeded: $0) })
        }
    }
    let vals: CSRBuffer<Double>
    if borrow, nnz > 0 {
        guard let values else { throw ABIError(.invalidArgument, "values is a null pointer") }
        vals = CSRBuffer(borrowing: UnsafeBufferPointer(start: values, count: nnz))
    } else {
        vals = CSRBuffer(try doubles(values, nnz, "values"))
    }
    do throws(SparseStructureError) {
        return try CSRMatrix(rowCount: n, columnCount: Int(columns), rowOffsets: offsets, columnIndices: indices, values: vals)
    } catch {
        throw ABIError(.invalidMatrix, "A: \(error.message)")
    }
}

@_cdecl("hyperreg_problem_create_borrowed")
public func hyperreg_problem_create_borrowed(_ rows: Int64, _ columns: Int64, _ nonzeros: Int64,
                                             _ rowOffsets: UnsafeRawPointer?, _ columnIndices: UnsafeRawPointer?, _ indexBits: Int32,
                                             _ values: UnsafePointer<Double>?, _ target: UnsafePointer<Double>?,
                                             _ weights: UnsafePointer<Double>?, _ weightCount: Int64, _ function: UnsafePointer<CChar>?,
                                             _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createProblem(rows, columns, nonzeros, rowOffsets, columnIndices, indexBits, values, target, weights, weightCount, function,
                  out, error, borrow: true)
}

@_cdecl("hyperreg_problem_create")
public func hyperreg_problem_create(_ rows: Int64, _ columns: Int64, _ nonzeros: Int64,
                                    _ rowOffsets: UnsafeRawPointer?, _ columnIndices: UnsafeRawPointer?, _ indexBits: Int32,
                                    _ values: UnsafePointer<Double>?, _ target: UnsafePointer<Double>?,
                                    _ weights: UnsafePointer<Double>?, _ weightCount: Int64, _ function: UnsafePointer<CChar>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createProblem(rows, columns, nonzeros, rowOffsets, columnIndices, indexBits, values, target, weights, weightCount, function,
                  out, error, borrow: false)
}

/// The two problem constructors: the C arrays copied (`borrow` false) or read in place.
private func createProblem(_ rows: Int64, _ columns: Int64, _ nonzeros: Int64,
                           _ rowOffsets: UnsafeRawPointer?, _ columnIndices: UnsafeRawPointer?, _ indexBits: Int32,
                           _ values: UnsafePointer<Double>?, _ target: UnsafePointer<Double>?,
                           _ weights: UnsafePointer<Double>?, _ weightCount: Int64, _ function: UnsafePointer<CChar>?,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?, borrow: Bool) -> Int32 {
    out?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let out else { throw ABIError(.invalidArgument, "problem (the output) is a null pointer") }
        let begin = ContinuousClock.now
        _ = try functionKind(function)
        let a = try csrMatrix(rows: rows, columns: columns, nonzeros: nonzeros, rowOffsets: rowOffsets, columnIndices: columnIndices,
                              indexBits: indexBits, values: values, borrow: borrow)
        out.pointee = try makeProblem(a, target: target, weights: weights, weightCount: weightCount, function: function, begin: begin)
    }
}

/// The function named by a C string.
func functionKind(_ function: UnsafePointer<CChar>?) throws(ABIError) -> FunctionKind {
    let name = try string(function, "function")
    guard let kind = FunctionKind(rawValue: name) else {
        throw ABIError(.invalidArgument, "function is \"\(name)\": it must be exp, cosh or sinh")
    }
    return kind
}

/// A problem handle for the matrix `a` (shared, not copied) and the C arrays of b and w
/// (copied); `begin` starts the clock of its `buildSeconds`.
func makeProblem(_ a: CSRMatrix, target: UnsafePointer<Double>?, weights: UnsafePointer<Double>?, weightCount: Int64,
                 function: UnsafePointer<CChar>?, begin: ContinuousClock.Instant) throws(ABIError) -> OpaquePointer {
    let kind = try functionKind(function)
    let n = a.rowCount
    let b = try doubles(target, n, "b")
    let w: [Double], uniform: Double?
    switch weightCount {
    case 0 where weights == nil: w = [Double](repeating: 1, count: n); uniform = 1
    case 1:
        guard let weights else { throw ABIError(.invalidArgument, "w is a null pointer") }
        w = [Double](repeating: weights.pointee, count: n); uniform = weights.pointee
    case Int64(n): w = try doubles(weights, n, "w"); uniform = nil
    default:
        throw ABIError(.invalidProblem, "w has \(weightCount) entries but A has \(n) rows (give 1 for a uniform weight, or n)")
    }
    do throws(ProblemError) {
        let p = try Problem(matrix: a, target: b, weights: w, function: kind)
        return retainedHandle(ABIProblem(problem: p, uniformWeight: uniform, buildSeconds: seconds(since: begin)))
    } catch {
        throw ABIError(.invalidProblem, error.message)
    }
}

@_cdecl("hyperreg_problem_free")
public func hyperreg_problem_free(_ problem: OpaquePointer?) { releaseHandle(problem) }

@_cdecl("hyperreg_problem_rows")
public func hyperreg_problem_rows(_ problem: OpaquePointer?) -> Int64 {
    Int64(object(problem, as: ABIProblem.self)?.problem.rowCount ?? -1)
}

@_cdecl("hyperreg_problem_columns")
public func hyperreg_problem_columns(_ problem: OpaquePointer?) -> Int64 {
    Int64(object(problem, as: ABIProblem.self)?.problem.columnCount ?? -1)
}

// MARK: - Options

/// The C callback type of `hyperreg_options_set_callback`.
public typealias HyperRegCallback = @convention(c) (Int64, Double, Double, Double, Double, Double, UnsafeMutableRawPointer?) -> Int32

/// A callback and its user data (the caller vouches for the data across threads).
struct ABICallback: @unchecked Sendable {
    let function: HyperRegCallback
    let userData: UnsafeMutableRawPointer?
}

/// An options handle (`hyperreg_options`).
final class ABIOptions {
    var solver = SolverOptions()
    /// Threads for the solve; 0 keeps the process default (HYPERREG_THREADS or all cores).
    var threads = 0
    var start = StartStrategy.automatic
    var seed: UInt64 = 1
    var callback: ABICallback?

    /// A copy (a solve takes one, so a later change cannot reach a running solve).
    func copy() -> ABIOptions {
        let c = ABIOptions()
        c.solver = solver; c.threads = threads; c.start = start; c.seed = seed; c.callback = callback
        return c
    }
}

@_cdecl("hyperreg_options_create")
public func hyperreg_options_create() -> OpaquePointer {
    retainedHandle(ABIOptions())
}

@_cdecl("hyperreg_options_free")
public func hyperreg_options_free(_ options: OpaquePointer?) { releaseHandle(options) }

/// Applies `change` to the options behind `handle`, keeping the old settings if the
/// library's checks (`SolverOptions.check`) refuse the new ones.
func changing(_ handle: OpaquePointer?, _ error: UnsafeMutablePointer<OpaquePointer?>?,
              _ change: (ABIOptions) throws(ABIError) -> Void) -> Int32 {
    guarded(error) { () throws(ABIError) in
        guard let options = object(handle, as: ABIOptions.self) else { throw ABIError(.invalidArgument, "options is a null pointer") }
        let before = options.copy()
        try change(options)
        do throws(OptionsError) { try options.solver.check() } catch {
            options.solver = before.solver
            throw ABIError(.invalidOptions, error.description)
        }
    }
}

@_cdecl("hyperreg_options_set_tolerance")
public func hyperreg_options_set_tolerance(_ options: OpaquePointer?, _ value: Double, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { $0.solver.tolerance = value }
}

@_cdecl("hyperreg_options_set_max_iterations")
public func hyperreg_options_set_max_iterations(_ options: OpaquePointer?, _ value: Int64, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { (o: ABIOptions) throws(ABIError) in
        guard let v = Int(exactly: value), v >= 0 else { throw ABIError(.invalidOptions, "max_iterations must be >= 0, got \(value)") }
        o.solver.maxIterations = v
    }
}

/// The case of an option's enumeration named by a C string, or an `invalidOptions` error
/// naming the option and listing the choices.
func optionCase<E: RawRepresentable & CaseIterable>(_ name: UnsafePointer<CChar>?, _ what: String) throws(ABIError) -> E where E.RawValue == String {
    let text = try string(name, what)
    guard let value = E(rawValue: text) else {
        throw ABIError(.invalidOptions, "\(what) is \"\(text)\": it must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return value
}

@_cdecl("hyperreg_options_set_hessian")
public func hyperreg_options_set_hessian(_ options: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { (o: ABIOptions) throws(ABIError) in o.solver.hessian = try optionCase(name, "hessian") }
}

@_cdecl("hyperreg_options_set_start")
public func hyperreg_options_set_start(_ options: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { (o: ABIOptions) throws(ABIError) in o.start = try optionCase(name, "start") }
}

@_cdecl("hyperreg_options_set_threads")
public func hyperreg_options_set_threads(_ options: OpaquePointer?, _ value: Int64, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { (o: ABIOptions) throws(ABIError) in
        guard let v = Int(exactly: value), v >= 0 else { throw ABIError(.invalidOptions, "threads must be >= 0 (0: the default), got \(value)") }
        o.threads = v
    }
}

@_cdecl("hyperreg_options_set_seed")
public func hyperreg_options_set_seed(_ options: OpaquePointer?, _ value: UInt64, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { $0.seed = value }
}

@_cdecl("hyperreg_options_set_sketch_seed")
public func hyperreg_options_set_sketch_seed(_ options: OpaquePointer?, _ value: UInt64, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { $0.solver.sketch.seed = value }
}

@_cdecl("hyperreg_options_set_callback")
public func hyperreg_options_set_callback(_ options: OpaquePointer?, _ callback: HyperRegCallback?, _ userData: UnsafeMutableRawPointer?,
                                          _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    changing(options, error) { $0.callback = callback.map { ABICallback(function: $0, userData: userData) } }
}

// MARK: - Results

/// A result handle (`hyperreg_result`): the solver's result and the pieces of its report.
final class ABIResult {
    let result: SolverResult
    let report: SolveReport
    let seconds: Double
    let status: CString
    let message: CString
    /// The JSON report, encoded on first request.
    private let json = Mutex<CString?>(nil)

    init(result: SolverResult, report: SolveReport, seconds: Double) {
        self.result = result
        self.report = report
        self.seconds = seconds
        status = CString(result.termination.rawValue)
        message = CString(result.message)
    }

    /// The report's JSON text.
    func reportText() throws(ABIError) -> UnsafePointer<CChar> {
        let text: CString? = json.withLock { cached in
            if cached == nil, let data = try? reportJSON(report) {
                cached = CString(String(decoding: data, as: UTF8.self))
            }
            return cached
        }
        guard let text else { throw ABIError(.solverFailure, "the report could not be encoded as JSON") }
        return UnsafePointer(text.pointer)
    }
}


@_cdecl("hyperreg_result_free")
public func hyperreg_result_free(_ result: OpaquePointer?) { releaseHandle(result) }

@_cdecl("hyperreg_result_status")
public func hyperreg_result_status(_ result: OpaquePointer?) -> UnsafePointer<CChar>? {
    object(result, as: ABIResult.self).map { UnsafePointer($0.status.pointer) }
}

@_cdecl("hyperreg_result_message")
public func hyperreg_result_message(_ result: OpaquePointer?) -> UnsafePointer<CChar>? {
    object(result, as: ABIResult.self).map { UnsafePointer($0.message.pointer) }
}

@_cdecl("hyperreg_result_success")
public func hyperreg_result_success(_ result: OpaquePointer?) -> Int32 {
    guard let r = object(result, as: ABIResult.self) else { return -1 }
    return r.result.isSolutionUsable ? 1 : 0
}

@_cdecl("hyperreg_result_iterations")
public func hyperreg_result_iterations(_ result: OpaquePointer?) -> Int64 {
    Int64(object(result, as: ABIResult.self)?.result.iterations ?? -1)
}

/// The number `value` of the result behind `handle`, NaN for null.
private func number(_ handle: OpaquePointer?, _ value: (ABIResult) -> Double) -> Double {
    object(handle, as: ABIResult.self).map(value) ?? .nan
}

@_cdecl("hyperreg_result_initial_loss")
public func hyperreg_result_initial_loss(_ result: OpaquePointer?) -> Double { number(result) { $0.result.initialLoss } }

@_cdecl("hyperreg_result_final_loss")
public func hyperreg_result_final_loss(_ result: OpaquePointer?) -> Double { number(result) { $0.result.finalLoss } }

@_cdecl("hyperreg_result_initial_gradient_norm")
public func hyperreg_result_initial_gradient_norm(_ result: OpaquePointer?) -> Double { number(result) { $0.result.initialGradientNorm } }

@_cdecl("hyperreg_result_final_gradient_norm")
public func hyperreg_result_final_gradient_norm(_ result: OpaquePointer?) -> Double { number(result) { $0.result.finalGradientNorm } }

@_cdecl("hyperreg_result_relative_gradient_norm")
public func hyperreg_result_relative_gradient_norm(_ result: OpaquePointer?) -> Double { number(result) { $0.result.relativeGradientNorm } }

@_cdecl("hyperreg_result_seconds")
public func hyperreg_result_seconds(_ result: OpaquePointer?) -> Double { number(result) { $0.seconds } }

@_cdecl("hyperreg_result_report")
public func hyperreg_result_report(_ result: OpaquePointer?, _ json: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                   _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    json?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let r = object(result, as: ABIResult.self) else { throw ABIError(.invalidArgument, "result is a null pointer") }
        guard let json else { throw ABIError(.invalidArgument, "json (the output) is a null pointer") }
        json.pointee = try r.reportText()
    }
}

// MARK: - Solving

/// The ABI code of a solver error.
func code(of error: SolverError) -> ABICode {
    switch error {
    case .invalidOptions: return .invalidOptions
    case .invalidProblem: return .invalidProblem
    default: return .solverFailure
    }
}

@_cdecl("hyperreg_solve")
public func hyperreg_solve(_ problem: OpaquePointer?, _ options: OpaquePointer?, _ x0: UnsafePointer<Double>?,
                           _ x: UnsafeMutablePointer<Double>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                           _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let handle = object(problem, as: ABIProblem.self) else { throw ABIError(.invalidArgument, "problem is a null pointer") }
        guard let x else { throw ABIError(.invalidArgument, "x (the output) is a null pointer") }
        guard let out else { throw ABIError(.invalidArgument, "result (the output) is a null pointer") }
        var settings = ABIOptions()
        if let options {
            guard let given = object(options, as: ABIOptions.self) else { throw ABIError(.invalidArgument, "options is not an options handle") }
            settings = given.copy()
        }
        let p = handle.problem
        let given = try x0.map { (pointer) throws(ABIError) in try doubles(pointer, p.columnCount, "x0") }
        let run = { () throws(ABIError) -> ABIResult in
            let begin = ContinuousClock.now
            let start: [Double], used: String
            if let given { start = given; used = "given" } else {
                do throws(SolverError) {
                    let s = try StartPoint.compute(for: p, strategy: settings.start, seed: settings.seed)
                    start = s.x0; used = s.used.rawValue
                } catch { throw ABIError(code(of: error), "start point: \(error)") }
            }
            let startSeconds = seconds(since: begin)
            var solverOptions = settings.solver
            if let callback = settings.callback {
                solverOptions.onIteration = { record in
                    callback.function(Int64(record.iteration), record.loss, record.gradientNorm, record.relativeGradientNorm,
                                      record.stepLength, record.seconds, callback.userData) == 0
                }
            }
            // The unit pass_seconds is timed after the clock stops (instrumentation, not solving).
            let measurePass = solverOptions.measurePass
            solverOptions.measurePass = false
            var result: SolverResult
            do throws(SolverError) { result = try NewtonSolver(options: solverOptions).solve(p, from: start) } catch {
                throw ABIError(code(of: error), "\(error)")
            }
            let total = seconds(since: begin)
            if measurePass { result.timings.onePass = NewtonSolver.passSeconds(of: p, at: result.x) }
            let report = SolveReport(result: result, problem: p,
                                     inputs: .init(matrix: "(memory)", target: "(memory)", weights: handle.uniformWeight == nil ? "(memory)" : nil,
                                                   weight: handle.uniformWeight, x0: given == nil ? nil : "(memory)", reference: nil),
                                     sketch: solverOptions.sketch, start: used, seed: settings.seed, tolerance: solverOptions.tolerance,
                                     maxIterations: solverOptions.maxIterations, seconds: total, startSeconds: startSeconds,
                                     readSeconds: handle.buildSeconds, threads: Parallelism.threadCount, version: HyperRegVersion.string)
            return ABIResult(result: result, report: report, seconds: total)
        }
        let made: ABIResult
        if settings.threads > 0 {
            let scoped = Parallelism.withThreadCount(settings.threads) { () -> Result<ABIResult, ABIError> in
                do throws(ABIError) { return .success(try run()) } catch { return .failure(error) }
            }
            made = try scoped.result.get()
        } else {
            made = try run()
        }
        let answer = made.result.x
        if answer.count == p.columnCount {
            for j in 0..<answer.count { x[j] = answer[j] }
        } else {
            for j in 0..<p.columnCount { x[j] = .nan }
        }
        out.pointee = retainedHandle(made)
    }
}
