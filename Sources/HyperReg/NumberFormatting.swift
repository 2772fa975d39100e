// The number formats users see, in one place: `fmt` in messages and warnings (4 decimals
// between 1e-3 and 1e6, else 3 significant digits in scientific form), `formatNumber` in
// tables and option echoes (`%.6g`), `formatFixed` for a fixed count of decimals.

#if canImport(Glibc)
import Glibc
#endif

/// Compact number formatting for messages.
func fmt(_ v: Double) -> String {
    if v == 0 || !v.isFinite { return "\(v)" }
    let a = Swift.abs(v)
    if a >= 1e-3 && a < 1e6 {
        let r = (v * 1e4).rounded() / 1e4
        return "\(r)"
    }
    // Scientific with 3 significant digits.
    var exponent = 0
    var m = a
    while m >= 10 { m /= 10; exponent += 1 }
    while m < 1 { m *= 10; exponent -= 1 }
    var mant = (m * 100).rounded() / 100
    // m may be 9.99999... after the divisions (1e-14 gives 9.999999999999998): rounding
    // then yields 10.0, which must carry into the exponent ("1.0e-14", not "10.0e-15").
    if mant >= 10 { mant /= 10; exponent += 1 }
    return "\(v < 0 ? "-" : "")\(mant)e\(exponent)"
}

/// A number in `%.6g` style (no "inf" or "nan" reaches the user through it unless given one).
public func formatNumber(_ v: Double) -> String {
    cFormat("%.6g", v)
}

/// A number with `digits` decimals.
func formatFixed(_ v: Double, digits: Int) -> String {
    cFormat("%.\(digits)f", v)
}

/// printf-style formatting of one Double (Foundation-free).
private func cFormat(_ format: String, _ v: Double) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let count = withVaList([v]) { vsnprintf(&buffer, 64, format, $0) }
    return String(decoding: buffer.prefix(Int(max(0, min(count, 63)))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
