// `hyperreg_diagnose` and `hyperreg_shift`: the paper's guarantee quantities at a point and the
// Corollary F.2 target shift (docs/theory.md), with the command line's JSON reports.

import Foundation
import HyperReg
import HyperRegReport

/// A JSON report as a C string the caller frees with `hyperreg_string_free`.
func jsonString<T: Encodable>(_ report: T) throws(ABIError) -> UnsafeMutablePointer<CChar> {
    guard let data = try? reportJSON(report) else { throw ABIError(.solverFailure, "the report could not be encoded as JSON") }
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: data.count + 1)
    data.withUnsafeBytes { raw in
        for (k, byte) in raw.enumerated() { pointer[k] = CChar(bitPattern: byte) }
    }
    pointer[data.count] = 0
    return pointer
}

@_cdecl("hyperreg_string_free")
public func hyperreg_string_free(_ text: UnsafeMutablePointer<CChar>?) { text?.deallocate() }

/// The radius option: nil (the default) for NaN or 0, an error for other values not finite and > 0.
func radiusOption(_ radius: Double) throws(ABIError) -> Double? {
    if radius.isNaN || radius == 0 { return nil }
    guard radius.isFinite, radius > 0 else { throw ABIError(.invalidOptions, "radius must be finite and > 0 (0 or NaN: the default), got \(radius)") }
    return radius
}

@_cdecl("hyperreg_diagnose")
public func hyperreg_diagnose(_ problem: OpaquePointer?, _ x: UnsafePointer<Double>?, _ radius: Double, _ samples: Int64, _ seed: UInt64,
                              _ json: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    json?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let handle = object(problem, as: ABIProblem.self) else { throw ABIError(.invalidArgument, "problem is a null pointer") }
        guard let json else { throw ABIError(.invalidArgument, "json (the output) is a null pointer") }
        let p = handle.problem
        let point = try doubles(x, p.columnCount, "x")
        if let j = point.firstIndex(where: { !$0.isFinite }) { throw ABIError(.invalidProblem, "x[\(j + 1)] = \(point[j]) is not finite") }
        var options = DiagnosticsOptions()
        options.radius = try radiusOption(radius)
        if samples != 0 {
            guard samples >= 1, let s = Int(exactly: samples) else { throw ABIError(.invalidOptions, "samples must be >= 1 (0: the default), got \(samples)") }
            options.lipschitzSamples = s
        }
        options.seed = seed
        let diagnostics: TheoryDiagnostics
        do throws(DiagnosticsError) { diagnostics = try TheoryDiagnostics.compute(problem: p, at: point, options: options) } catch {
            throw ABIError(.solverFailure, error.description)
        }
        json.pointee = try jsonString(DiagnoseReport(diagnostics, matrix: "(memory)", target: "(memory)",
                                                     weights: handle.uniformWeight == nil ? "(memory)" : nil, x: "(memory)"))
    }
}

@_cdecl("hyperreg_shift")
public func hyperreg_shift(_ problem: OpaquePointer?, _ from: UnsafePointer<Double>?, _ to: UnsafePointer<Double>?, _ problemTo: OpaquePointer?,
                           _ radius: Double, _ deltaB: UnsafeMutablePointer<Double>?,
                           _ json: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ error: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    json?.pointee = nil
    return guarded(error) { () throws(ABIError) in
        guard let handle = object(problem, as: ABIProblem.self) else { throw ABIError(.invalidArgument, "problem is a null pointer") }
        guard let deltaB else { throw ABIError(.invalidArgument, "delta_b (the output) is a null pointer") }
        let p = handle.problem
        let x0 = try doubles(from, p.columnCount, "x_from")
        if let j = x0.firstIndex(where: { !$0.isFinite }) { throw ABIError(.invalidProblem, "x_from[\(j + 1)] = \(x0[j]) is not finite") }
        let r = try radiusOption(radius)
        let shift: InContextShift
        switch (to, problemTo) {
        case (let to?, nil):
            let x1 = try doubles(to, p.columnCount, "x_to")
            if let j = x1.firstIndex(where: { !$0.isFinite }) { throw ABIError(.invalidProblem, "x_to[\(j + 1)] = \(x1[j]) is not finite") }
            do throws(ProblemError) { shift = try InContextShift.iterate(problem: p, from: x0, to: x1, radius: r) } catch {
                throw ABIError(.invalidProblem, error.message)
            }
        case (nil, let other?):
            guard let next = object(other, as: ABIProblem.self) else { throw ABIError(.invalidArgument, "problem_to is not a problem") }
            let a1 = next.problem.matrix
            guard a1.rowCount == p.rowCount, a1.columnCount == p.columnCount else {
                throw ABIError(.invalidProblem, "A_{t+1} is \(a1.rowCount) x \(a1.columnCount) but A is \(p.rowCount) x \(p.columnCount)")
            }
            do throws(ProblemError) { shift = try InContextShift.data(problem: p, matrixTo: a1, at: x0, radius: r) } catch {
                throw ABIError(.invalidProblem, error.message)
            }
        default:
            throw ABIError(.invalidArgument, "give exactly one of x_to (part 1) and problem_to (part 2)")
        }
        for i in 0..<shift.deltaB.count { deltaB[i] = shift.deltaB[i] }
        if let json {
            json.pointee = try jsonString(ShiftReport(shift, matrix: "(memory)", target: "(memory)", from: "(memory)",
                                                      to: to == nil ? nil : "(memory)", matrixTo: problemTo == nil ? nil : "(memory)"))
        }
    }
}
