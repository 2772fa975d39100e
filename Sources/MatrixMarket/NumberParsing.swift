// Byte-level number scanning for the Matrix Market data section.
//
// Every scanner works on a chunk that is guaranteed to end in '\n', so the loops below
// stop at that sentinel and never compare against the end pointer. A token ends at a
// blank (space, tab, carriage return) or at '\n'; anything else glued to a number makes
// the whole token invalid (`1.5D+02`, `1,5`, `0x10`, `12abc`).
//
// Doubles are correctly rounded: Clinger's fast path (mantissa <= 2^53, |exponent| <= 22,
// one exact multiply or divide), else the Eisel-Lemire algorithm with a 128-bit table of
// powers of five (exact for up to 19 significant digits, Mushtak and Lemire 2023), else
// (more than 19 significant digits) `strtod` on a normalized copy of the token.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Outcome of scanning one numeric token.
enum NumberScan {
    /// A finite value (possibly a denormal, or zero after underflow).
    case ok
    /// Not a number in the accepted grammar.
    case invalid
    /// A `nan`, `inf` or `infinity` literal (value set accordingly).
    case nonFinite
    /// A decimal whose magnitude is beyond the largest double (value set to +-inf).
    case overflow
}

/// Read-only lookup tables, valid for the duration of one parse.
struct ParseTables: @unchecked Sendable {
    /// `powersOfFive128` (two words per power, q = -342 ... 308).
    let powersOfFive: UnsafePointer<UInt64>
    /// 1e0 ... 1e22, all exact doubles.
    let powersOfTen: UnsafePointer<Double>

    /// Runs `body` with the tables.
    static func with<R>(_ body: (ParseTables) throws(MatrixMarketError) -> R) throws(MatrixMarketError) -> R {
        let tens: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
        let five = UnsafeMutablePointer<UInt64>.allocate(capacity: powersOfFive128.count)
        five.initialize(from: powersOfFive128, count: powersOfFive128.count)
        let ten = UnsafeMutablePointer<Double>.allocate(capacity: tens.count)
        ten.initialize(from: tens, count: tens.count)
        defer { five.deallocate(); ten.deallocate() }
        return try body(ParseTables(powersOfFive: five, powersOfTen: ten))
    }
}

@inline(__always) func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D }
@inline(__always) func isTokenEnd(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }

/// Scans a decimal integer with optional sign (an index). On success `p` moves past it
/// and `value` holds it (`Int.max` when it has more than 18 digits, i.e. out of any range).
/// Returns false, leaving `p`, when the token is not an integer.
@inline(__always)
func scanIndex(_ p: inout UnsafePointer<UInt8>, _ value: inout Int) -> Bool {
    var q = p
    var c = q.pointee
    var negative = false
    if c == UInt8(ascii: "-") { negative = true; q += 1; c = q.pointee } else if c == UInt8(ascii: "+") { q += 1; c = q.pointee }
    let digitsStart = q
    var v = 0
    while true {
        let d = c &- 0x30
        if d > 9 { break }
        v = v &* 10 &+ Int(d)
        q += 1
        c = q.pointee
    }
    let digits = q - digitsStart
    guard digits > 0, isTokenEnd(c) else { return false }
    if digits > 18 { v = Int.max } else if negative { v = -v }
    value = v
    p = q
    return true
}

/// True when the 8 bytes of `word` (little-endian) are all ASCII digits.
@inline(__always)
func isEightDigits(_ word: UInt64) -> Bool {
    ((word & 0xF0F0_F0F0_F0F0_F0F0) | (((word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)) == 0x3333_3333_3333_3333
}

/// The value of 8 ASCII digits loaded little-endian (first digit in the low byte).
@inline(__always)
func eightDigitValue(_ word: UInt64) -> UInt64 {
    var v = word &- 0x3030_3030_3030_3030
    v = (v &* 10) &+ (v >> 8)
    let mask: UInt64 = 0x0000_00FF_0000_00FF
    return (((v & mask) &* (100 + (1_000_000 << 32))) &+ (((v >> 16) & mask) &* (1 + (10_000 << 32)))) >> 32
}

/// Scans a real number: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, or
/// with `nan`/`inf`/`infinity` (any case) reported as `.nonFinite`. On any result but
/// `.invalid`, `p` moves past the token. `integerSyntax` tells whether the token was a
/// plain `[+-]?digits` integer. Bytes before `limit` may be read 8 at a time.
@inline(__always)
func scanReal(_ p: inout UnsafePointer<UInt8>, _ limit: UnsafePointer<UInt8>, _ tables: ParseTables, _ value: inout Double, _ integerSyntax: inout Bool) -> NumberScan {
    var q = p
    var c = q.pointee
    var negative = false
    if c == UInt8(ascii: "-") { negative = true; q += 1; c = q.pointee } else if c == UInt8(ascii: "+") { q += 1; c = q.pointee }
    let digitsStart = q
    var mantissa: UInt64 = 0
    while true {
        let d = c &- 0x30
        if d > 9 { break }
        mantissa = mantissa &* 10 &+ UInt64(d)
        q += 1
        c = q.pointee
    }
    var digitCount = q - digitsStart
    var exponent = 0
    var plainInteger = true
    if c == UInt8(ascii: ".") {
        plainInteger = false
        q += 1
        let fractionStart = q
        // Eight digits at a time (SWAR), then one at a time.
        while limit - q >= 8 {
            let word = UInt64(littleEndian: UnsafeRawPointer(q).loadUnaligned(as: UInt64.self))
            guard isEightDigits(word) else { break }
            mantissa = mantissa &* 100_000_000 &+ eightDigitValue(word)
            q += 8
        }
        c = q.pointee
        while true {
            let d = c &- 0x30
            if d > 9 { break }
            mantissa = mantissa &* 10 &+ UInt64(d)
            q += 1
            c = q.pointee
        }
        let fractionDigits = q - fractionStart
        exponent = -fractionDigits
        digitCount &+= fractionDigits
    }
    if digitCount == 0 {
        if !plainInteger { return .invalid }
        return scanNonFinite(&p, q, negative, &value)
    }
    if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
        plainInteger = false
        q += 1
        c = q.pointee
        var exponentNegative = false
        if c == UInt8(ascii: "-") { exponentNegative = true; q += 1; c = q.pointee } else if c == UInt8(ascii: "+") { q += 1; c = q.pointee }
        let exponentStart = q
        var e = 0
        while true {
            let d = c &- 0x30
            if d > 9 { break }
            if e < 1_000_000 { e = e &* 10 &+ Int(d) }
            q += 1
            c = q.pointee
        }
        if q == exponentStart { return .invalid }
        exponent &+= exponentNegative ? -e : e
    }
    guard isTokenEnd(c) else { return .invalid }
    let tokenStart = p
    p = q
    integerSyntax = plainInteger

    var significant = digitCount
    if digitCount > 19 {
        // Leading zeros (and the point among them) are not significant.
        var z = digitsStart
        while z.pointee == UInt8(ascii: "0") || z.pointee == UInt8(ascii: ".") {
            if z.pointee == UInt8(ascii: "0") { significant -= 1 }
            z += 1
        }
    }
    var magnitude: Double
    if significant > 19 {
        magnitude = slowDecimal(tokenStart, q, exponent)
    } else if mantissa == 0 {
        magnitude = 0
    } else if exponent >= -22 && exponent <= 22 && mantissa <= 1 << 53 {
        magnitude = Double(mantissa)
        if exponent < 0 { magnitude /= tables.powersOfTen[-exponent] } else { magnitude *= tables.powersOfTen[exponent] }
    } else {
        magnitude = Double(bitPattern: eiselLemire(exponent, mantissa, tables.powersOfFive))
    }
    value = negative ? -magnitude : magnitude
    return magnitude.isInfinite ? .overflow : .ok
}

/// `nan`, `inf`, `infinity` (any case) at `q` (after an optional sign), ending a token.
@inline(never)
func scanNonFinite(_ p: inout UnsafePointer<UInt8>, _ start: UnsafePointer<UInt8>, _ negative: Bool, _ value: inout Double) -> NumberScan {
    var end = start
    while !isTokenEnd(end.pointee) && end - start < 9 { end += 1 }
    guard isTokenEnd(end.pointee) else { return .invalid }
    var word = ""
    for b in UnsafeBufferPointer(start: start, count: end - start) {
        word.unicodeScalars.append(Unicode.Scalar(b >= 0x41 && b <= 0x5A ? b + 0x20 : b))
    }
    switch word {
    case "nan": value = negative ? -Double.nan : Double.nan
    case "inf", "infinity": value = negative ? -Double.infinity : Double.infinity
    default: return .invalid
    }
    p = end
    return .nonFinite
}

/// More than 19 significant digits: hand `strtod` a normalized copy
/// (`[-]DIGITS e EXPONENT`, no decimal point, so the C locale's radix cannot matter).
/// The token is already validated.
@inline(never)
func slowDecimal(_ start: UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ exponent: Int) -> Double {
    let length = end - start
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 24) { buffer -> Double in
        var n = 0
        var q = start
        while q < end {
            let c = q.pointee
            if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { break }
            if (c >= 0x30 && c <= 0x39) { buffer[n] = CChar(bitPattern: c); n += 1 }
            q += 1
        }
        // The digits were taken as an integer: `exponent` already counts the fraction digits.
        buffer[n] = CChar(bitPattern: UInt8(ascii: "e")); n += 1
        for b in String(exponent).utf8 { buffer[n] = CChar(bitPattern: b); n += 1 }
        buffer[n] = 0
        return strtod(buffer.baseAddress!, nil)
    }
}

/// The Eisel-Lemire algorithm: the double nearest to `w * 10^q` (`w != 0`, at most 19
/// digits, so `w` is exact), as a bit pattern without the sign. Returns the bits of +inf
/// on overflow and 0 on underflow.
@inline(__always)
func eiselLemire(_ q: Int, _ w0: UInt64, _ table: UnsafePointer<UInt64>) -> UInt64 {
    let infinityBits: UInt64 = 0x7FF << 52
    if q < -342 { return 0 }
    if q > 308 { return infinityBits }
    let leadingZeros = w0.leadingZeroBitCount
    let w = w0 << UInt64(leadingZeros)
    let index = 2 * (q + 342)
    var (high, low) = w.multipliedFullWidth(by: table[index])
    // Precision needed: 52 explicit bits + implicit bit + rounding bit + a possible shift.
    let precisionMask: UInt64 = UInt64.max >> 55
    if high & precisionMask == precisionMask {
        let second = w.multipliedFullWidth(by: table[index + 1]).high
        low = low &+ second
        if second > low { high &+= 1 }
    }
    let upperBit = Int(high >> 63)
    let shift = upperBit + 64 - 52 - 3
    var mantissa = high >> UInt64(shift)
    var power2 = (((152170 + 65536) * q) >> 16) + 63 + upperBit - leadingZeros + 1023
    if power2 <= 0 {
        // Subnormal (or zero).
        if -power2 + 1 >= 64 { return 0 }
        mantissa >>= UInt64(-power2 + 1)
        mantissa += mantissa & 1
        mantissa >>= 1
        power2 = mantissa < (1 << 52) ? 0 : 1
        return (UInt64(power2) << 52) | mantissa
    }
    // Exactly halfway between two doubles (only possible for small |q|): round to even.
    if low <= 1 && q >= -4 && q <= 23 && (mantissa & 3) == 1 && (mantissa << UInt64(shift)) == high {
        mantissa &= ~1
    }
    mantissa += mantissa & 1
    mantissa >>= 1
    if mantissa >= (2 << 52) {
        mantissa = 1 << 52
        power2 += 1
    }
    mantissa &= ~(1 << 52)
    if power2 >= 0x7FF { return infinityBits }
    return (UInt64(power2) << 52) | mantissa
}

/// The text of the token at `p` (up to a blank or end of line), for error messages.
func tokenText(_ p: UnsafePointer<UInt8>) -> String {
    var q = p
    while !isTokenEnd(q.pointee) && q - p < 60 { q += 1 }
    let text = String(decoding: UnsafeBufferPointer(start: p, count: q - p), as: UTF8.self)
    return isTokenEnd(q.pointee) ? text : text + "..."
}

/// The rest of the line at `p` without trailing blanks, for error messages.
func restOfLine(_ p: UnsafePointer<UInt8>) -> String {
    var q = p
    while q.pointee != 0x0A && q - p < 60 { q += 1 }
    var e = q
    while e > p && isBlank((e - 1).pointee) { e -= 1 }
    let text = String(decoding: UnsafeBufferPointer(start: p, count: e - p), as: UTF8.self)
    return q.pointee == 0x0A ? text : text + "..."
}
