// Small hand-written files: expansion, duplicates, whitespace, gzip, stdin, headers.

import Foundation
import MatrixMarket
import SparseCore
import Testing

@Suite("Parsing small files")
struct ParsingTests {
    @Test func symmetricExpansionMirrorsOffDiagonalOnly() throws {
        let s = try Scratch()
        // (3,1) lower and (1,2) upper: both are mirrored; the diagonal is not doubled.
        let path = try s.write("sym.mtx", """
            %%MatrixMarket matrix coordinate real symmetric
            3 3 4
            1 1 4.0
            3 1 -2.5
            1 2 7
            3 3 1e-3
            """)
        let (header, a) = try MatrixMarket.readMatrix(from: path)
        #expect(header.storedEntryCount == 4)
        #expect(a.nonzeroCount == 6)
        #expect(a.denseRowMajor() == [4, 7, -2.5,
                                      7, 0, 0,
                                      -2.5, 0, 1e-3])
    }

    @Test func skewSymmetricExpansionNegatesTheMirror() throws {
        let s = try Scratch()
        let path = try s.write("skew.mtx", """
            %%MatrixMarket matrix coordinate real skew-symmetric
            3 3 2
            2 1 5
            3 2 -1.5
            """)
        let (_, a) = try MatrixMarket.readMatrix(from: path)
        #expect(a.denseRowMajor() == [0, -5, 0,
                                      5, 0, 1.5,
                                      0, -1.5, 0])
    }

    @Test func skewSymmetricArrayStoresTheStrictLowerTriangle() throws {
        let s = try Scratch()
        // 3 x 3 skew: values (2,1), (3,1), (3,2) column-major.
        let path = try s.write("skew-array.mtx", "%%MatrixMarket matrix array real skew-symmetric\n3 3\n1\n2\n3\n")
        let (header, a) = try MatrixMarket.readMatrix(from: path)
        #expect(header.storedEntryCount == 3)
        #expect(a.denseRowMajor() == [0, -1, -2,
                                      1, 0, -3,
                                      2, 3, 0])
    }

    @Test func generalArrayIsColumnMajorAndDropsZeros() throws {
        let s = try Scratch()
        let path = try s.write("array.mtx", "%%MatrixMarket matrix array real general\n2 3\n1\n0\n0\n4\n5\n-0.0\n")
        let (header, a) = try MatrixMarket.readMatrix(from: path)
        #expect(header.storedEntryCount == 6)
        #expect(a.nonzeroCount == 3)
        #expect(a.denseRowMajor() == [1, 0, 5,
                                      0, 4, 0])
    }

    @Test func duplicatesAreSummedInFileOrder() throws {
        let s = try Scratch()
        let path = try s.write("dup.mtx", """
            %%MatrixMarket matrix coordinate real general
            2 2 5
            2 2 1
            1 1 0.1
            2 2 2
            1 1 0.2
            1 1 0.3
            """)
        let (_, a) = try MatrixMarket.readMatrix(from: path)
        #expect(a.nonzeroCount == 2)
        #expect(a.value(row: 0, column: 0) == (0.1 + 0.2) + 0.3)
        #expect(a.value(row: 1, column: 1) == 3)
    }

    @Test func unsortedRowsAreSorted() throws {
        let s = try Scratch()
        var lines = ["%%MatrixMarket matrix coordinate real general", "1 100 100"]
        // Columns 100, 99, ..., 1 in one long row (exercises the long-row sort).
        for j in stride(from: 100, through: 1, by: -1) { lines.append("1 \(j) \(j)") }
        let path = try s.write("row.mtx", lines.joined(separator: "\n"))
        let (_, a) = try MatrixMarket.readMatrix(from: path)
        #expect(a.columnIndices == (0 ..< 100).map { Int32($0) })
        #expect(a.values == (1 ... 100).map { Double($0) })
    }

    @Test func whitespaceBlankLinesCommentsCRLFNoFinalNewline() throws {
        let s = try Scratch()
        let text = "%MatrixMarket Matrix COORDINATE real GENERAL\r\n\r\n% a comment\r\n\t \r\n  2\t2   2  \r\n\r\n% in the data\r\n 1 \t 2\t-3.5e+1 \r\n\r\n2 1 +4"
        let path = try s.write("ws.mtx", text)
        let (header, a) = try MatrixMarket.readMatrix(from: path)
        #expect(header.comments == [" a comment"])
        #expect(a.denseRowMajor() == [0, -35, 4, 0])
    }

    @Test func patternAndIntegerFields() throws {
        let s = try Scratch()
        let pattern = try s.write("p.mtx", "%%MatrixMarket matrix coordinate pattern symmetric\n2 2 2\n1 1\n2 1\n")
        #expect(try MatrixMarket.readMatrix(from: pattern).matrix.denseRowMajor() == [1, 1, 1, 0])
        let integer = try s.write("i.mtx", "%%MatrixMarket matrix coordinate integer general\n1 2 2\n1 1 -7\n1 2 9007199254740993\n")
        // 2^53 + 1 rounds to the nearest double, 2^53 (ties to even).
        #expect(try MatrixMarket.readMatrix(from: integer).matrix.values == [-7, 9007199254740992])
    }

    @Test func emptyMatricesAndZeroEntries() throws {
        let s = try Scratch()
        let none = try s.write("none.mtx", "%%MatrixMarket matrix coordinate real general\n3 2 0\n")
        let a = try MatrixMarket.readMatrix(from: none).matrix
        #expect(a.rowCount == 3 && a.columnCount == 2 && a.nonzeroCount == 0)
        let zero = try s.write("zero.mtx", "%%MatrixMarket matrix array real general\n0 0")
        #expect(try MatrixMarket.readMatrix(from: zero).matrix.rowCount == 0)
        #expect(try MatrixMarket.readVector(from: try s.write("v0.mtx", "%%MatrixMarket matrix array real general\n0 1\n")) == [])
    }

    @Test func vectorsFromEveryLayout() throws {
        let s = try Scratch()
        let column = try s.write("c.mtx", "%%MatrixMarket matrix array real general\n3 1\n1\n2\n3\n")
        let row = try s.write("r.mtx", "%%MatrixMarket matrix array real general\n1 3\n1\n2\n3\n")
        let sparse = try s.write("s.mtx", "%%MatrixMarket matrix coordinate real general\n4 1 3\n4 1 4\n1 1 1\n4 1 0.5\n")
        let sparseRow = try s.write("sr.mtx", "%%MatrixMarket matrix coordinate real general\n1 3 1\n1 2 -0.0\n")
        #expect(try MatrixMarket.readVector(from: column) == [1, 2, 3])
        #expect(try MatrixMarket.readVector(from: row) == [1, 2, 3])
        #expect(try MatrixMarket.readVector(from: sparse) == [1, 0, 0, 4.5])
        #expect(bitsEqual(try MatrixMarket.readVector(from: sparseRow), [0, -0.0, 0]))
    }

    @Test func gzipFilesAndHeaderOnly() throws {
        let s = try Scratch()
        let text = "%%MatrixMarket matrix coordinate real general\n% gz\n2 2 2\n1 1 1.5\n2 2 -2\n"
        let path = try s.write("m.mtx.gz", try gzipped(Array(text.utf8)))
        let (header, a) = try MatrixMarket.readMatrix(from: path)
        #expect(header == MatrixMarketHeader(format: .coordinate, field: .real, symmetry: .general, rowCount: 2, columnCount: 2, storedEntryCount: 2, comments: [" gz"]))
        #expect(a.denseRowMajor() == [1.5, 0, 0, -2])
        #expect(try MatrixMarket.readHeader(from: path) == header)
    }

    @Test func headerOnlyReadsAnIllegalDataSectionWithoutComplaint() throws {
        let s = try Scratch()
        let path = try s.write("h.mtx", "%%MatrixMarket matrix array integer symmetric\n%x\n\n5 5\nnot a number\n")
        let header = try MatrixMarket.readHeader(from: path)
        #expect(header.format == .array && header.field == .integer && header.symmetry == .symmetric)
        #expect(header.storedEntryCount == 15)
        #expect(header.comments == ["x"])
    }

    @Test func standardInputPlainAndGzip() throws {
        let s = try Scratch()
        let text = "%%MatrixMarket matrix array real general\n2 1\n0.25\n-8\n"
        let plain = try s.write("v.mtx", text)
        let packed = try s.write("v.mtx.gz", try gzipped(Array(text.utf8)))
        #expect(try withStandardInput(from: plain) { try MatrixMarket.readVector(from: "-") } == [0.25, -8])
        #expect(try withStandardInput(from: packed) { try MatrixMarket.readVector(from: "-") } == [0.25, -8])
        let header = try withStandardInput(from: plain) { try MatrixMarket.readHeader(from: "-") }
        #expect(header.rowCount == 2)
        let error = try withStandardInput(from: try s.write("bad.mtx", "%%MatrixMarket matrix array real general\n2 1\n1\n")) {
            caught { try MatrixMarket.readVector(from: "-") }
        }
        #expect(error?.path == "<stdin>")
        #expect(error?.line == 3)
    }

    @Test func nonFiniteValuesWhenAllowed() throws {
        let s = try Scratch()
        let path = try s.write("nf.mtx", "%%MatrixMarket matrix array real general\n5 1\nNaN\n-inf\nInfinity\n1e400\n-1e-400\n")
        let v = try MatrixMarket.readVector(from: path, options: .init(allowNonFinite: true))
        #expect(v[0].isNaN)
        #expect(v[1] == -.infinity && v[2] == .infinity && v[3] == .infinity)
        #expect(v[4] == 0 && v[4].sign == .minus)
        // Denormals and underflow are fine without the option.
        let small = try s.write("small.mtx", "%%MatrixMarket matrix array real general\n3 1\n4.9406564584124654e-324\n1e-400\n2.2250738585072011e-308\n")
        let w = try MatrixMarket.readVector(from: small)
        // 2.2250738585072011e-308 lies nearest the largest subnormal.
        #expect(w == [Double.leastNonzeroMagnitude, 0, Double(bitPattern: 0x000F_FFFF_FFFF_FFFF)])
    }
}
