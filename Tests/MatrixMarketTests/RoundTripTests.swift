// Writers round-trip bit for bit; the number parser agrees with strtod on every bit.

import Foundation
import MatrixMarket
import SparseCore
import Testing

/// Doubles that stress printing and parsing: tiny, huge, negative, zeros, integers.
func awkwardDoubles(count: Int, seed: UInt64) -> [Double] {
    var g = SplitMix(seed: seed)
    let largestSubnormal = Double(bitPattern: 0x000F_FFFF_FFFF_FFFF)
    var values: [Double] = [0, -0.0, 1, -1, 0.1, 1.0 / 3, 1e15, 1e15 + 1, Double(1 << 53) + 2, 1e16, 123456789012345680,
                            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                            -.greatestFiniteMagnitude, largestSubnormal, .leastNonzeroMagnitude * 2024, 1e22, 1e23, 0.3, 2.5e-5]
    while values.count < count {
        switch values.count % 4 {
        case 0: values.append(Double(bitPattern: g.next() & ~(0x7FF << 52) | (UInt64.random(in: 1 ... 0x7FE, using: &g) << 52)))  // any finite normal
        case 1: values.append(Double(bitPattern: g.next() & 0x800F_FFFF_FFFF_FFFF))  // subnormal
        case 2: values.append(Double.random(in: -1000 ... 1000, using: &g))
        default: values.append(Double(Int.random(in: -1_000_000 ... 1_000_000, using: &g)))
        }
    }
    return values
}

@Suite("Round trips and number parsing")
struct RoundTripTests {
    @Test func arrayRoundTripIsBitIdentical() throws {
        let s = try Scratch()
        let values = awkwardDoubles(count: 20_000, seed: 1)
        let path = s.path("v.mtx")
        try MatrixMarket.writeArray(values, rowCount: values.count, columnCount: 1, to: path, comments: ["first", "", "%second, with % signs"])
        let back = try MatrixMarket.readVector(from: path)
        #expect(bitsEqual(back, values))
        let header = try MatrixMarket.readHeader(from: path)
        #expect(header.comments == ["first", "", "%second, with % signs"])
        #expect(header.format == .array && header.field == .real && header.symmetry == .general)
    }

    @Test func arrayMatrixRoundTrip() throws {
        let s = try Scratch()
        let m = 7, n = 5
        var values = awkwardDoubles(count: m * n, seed: 2)
        values[3] = 0  // dropped from the CSR form
        let path = s.path("a.mtx")
        try MatrixMarket.writeArray(values, rowCount: m, columnCount: n, to: path)
        let (_, a) = try MatrixMarket.readMatrix(from: path)
        for i in 0 ..< m {
            for j in 0 ..< n {
                let v = values[j * m + i]
                #expect(a.value(row: i, column: j).bitPattern == (v == 0 ? 0.0 : v).bitPattern)
            }
        }
        #expect(a.nonzeroCount == values.filter { $0 != 0 }.count)
    }

    @Test func coordinateRoundTripIsBitIdentical() throws {
        let s = try Scratch()
        var g = SplitMix(seed: 3)
        let rows = 300, columns = 200
        var builder = CoordinateBuilder(rowCount: rows, columnCount: columns)
        let values = awkwardDoubles(count: 5000, seed: 4)
        for v in values {
            builder.append(row: Int.random(in: 0 ..< rows, using: &g), column: Int.random(in: 0 ..< columns, using: &g), value: v)
        }
        let a = builder.build()
        let path = s.path("c.mtx")
        try MatrixMarket.writeCoordinate(a, to: path, comments: ["made by a test"])
        let (header, b) = try MatrixMarket.readMatrix(from: path)
        #expect(header.storedEntryCount == a.nonzeroCount)
        #expect(header.comments == ["made by a test"])
        #expect(b.rowOffsets == a.rowOffsets)
        #expect(b.columnIndices == a.columnIndices)
        #expect(bitsEqual(b.values, a.values))
    }

    @Test func writerRejectsAWrongCount() throws {
        let s = try Scratch()
        let error = caught { try MatrixMarket.writeArray([1, 2, 3], rowCount: 2, columnCount: 2, to: s.path("x.mtx")) }
        #expect(error?.message.contains("2 x 2 array from 3 values") == true)
        #expect(try s.listing() == [])
    }

    @Test func nonFiniteValuesAreWrittenAndReadBackWhenAllowed() throws {
        let s = try Scratch()
        let path = s.path("nf.mtx")
        try MatrixMarket.writeArray([.nan, .infinity, -.infinity, 1], rowCount: 4, columnCount: 1, to: path)
        #expect(caught { try MatrixMarket.readVector(from: path) }?.line == 3)
        let v = try MatrixMarket.readVector(from: path, options: .init(allowNonFinite: true))
        #expect(v[0].isNaN && v[1] == .infinity && v[2] == -.infinity && v[3] == 1)
    }

    /// Random decimal strings (1 to 25 digits, any point position, exponents from -360
    /// to 330) read through a file must equal `strtod` bit for bit. Set MM_FUZZ_COUNT
    /// for a longer run.
    @Test func parserAgreesWithStrtod() throws {
        var g = SplitMix(seed: 5)
        var tokens: [String] = ["2.2250738585072011e-308", "2.2250738585072012e-308", "4.9406564584124654e-324",
                                "2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623157e308",
                                "1.7976931348623158e308", "9007199254740993", "9007199254740992.5", "0.1", "1e23",
                                "8.98846567431158e307", "123456789012345678901234567890", "0.000000000000000000000000001",
                                "7.2057594037927933e16", "1.00000000000000011102230246251565404236316680908203125",
                                "1.00000000000000011102230246251565404236316680908203124", "5e-324", "1e-324", "3e-324",
                                "-0", "+0.0e10", ".5", "5.", "-.5E-3", "00000123.4500000", "1E+308", "1e-22", "1e22"]
        let count = ProcessInfo.processInfo.environment["MM_FUZZ_COUNT"].flatMap { Int($0) } ?? 60_000
        while tokens.count < count {
            let digits = Int.random(in: 1 ... 25, using: &g)
            var mantissa = ""
            for _ in 0 ..< digits { mantissa.append(Character(Unicode.Scalar(UInt8(0x30 + Int.random(in: 0 ... 9, using: &g))))) }
            let point = Int.random(in: 0 ... digits, using: &g)
            if point < digits && Bool.random(using: &g) {
                mantissa.insert(".", at: mantissa.index(mantissa.startIndex, offsetBy: point))
            }
            let exponent = Int.random(in: -360 ... 330, using: &g)
            let sign = ["", "-", "+"][Int.random(in: 0 ... 2, using: &g)]
            let e = ["e", "E"][Int.random(in: 0 ... 1, using: &g)]
            tokens.append(Bool.random(using: &g) ? "\(sign)\(mantissa)\(e)\(exponent)" : "\(sign)\(mantissa)")
        }
        let s = try Scratch()
        let text = "%%MatrixMarket matrix array real general\n\(tokens.count) 1\n" + tokens.joined(separator: "\n") + "\n"
        let path = try s.write("numbers.mtx", text)
        let parsed = try MatrixMarket.readVector(from: path, options: .init(allowNonFinite: true))
        var mismatches: [String] = []
        for (token, value) in zip(tokens, parsed) {
            let reference = strtod(token, nil)
            if reference.bitPattern != value.bitPattern { mismatches.append("\(token): got \(value), strtod \(reference)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        #expect(parsed.count == tokens.count)
    }
}
