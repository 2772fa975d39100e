// Every file in ../shared/data/mtx (see SOURCES.md there): shape, nonzeros, field.

import Foundation
import MatrixMarket
import SparseCore
import HyperRegTestSupport
import Testing

@Suite("Real Matrix Market files",
       .enabled(if: TestPaths.runsSharedDataTests,
                "../shared/data/mtx is absent beside this checkout (a clone on its own); set HYPERREG_REQUIRE_SHARED_DATA=1 to make that a failure"))
struct RealFilesTests {
    /// (file, rows, columns, nonzeros after expansion, format, field, symmetry)
    static let cases: [(String, Int, Int, Int, MatrixMarketFormat, MatrixMarketField, MatrixMarketSymmetry)] = [
        ("ash219.mtx", 219, 85, 438, .coordinate, .pattern, .general),
        ("lp_e226_transposed.mtx", 472, 223, 2768, .coordinate, .real, .general),
        ("illc1850.mtx.gz", 1850, 712, 8758, .coordinate, .real, .general),
        ("bcsstk13.mtx", 2003, 2003, 83883, .coordinate, .real, .symmetric),
        ("full_symmetric.mtx", 4, 4, 16, .array, .real, .symmetric),
        ("sources_7.mtx", 64, 1, 64, .coordinate, .integer, .general),
        ("windows_lineendings_nist_ex1_more_freeformat.mtx", 5, 5, 8, .coordinate, .real, .general),
    ]

    @Test("shape, nonzeros and header", arguments: cases)
    func shapeAndNonzeros(_ c: (String, Int, Int, Int, MatrixMarketFormat, MatrixMarketField, MatrixMarketSymmetry)) throws {
        let (name, rows, columns, nonzeros, format, field, symmetry) = c
        let (header, a) = try MatrixMarket.readMatrix(from: sharedMatrix(name))
        #expect(a.rowCount == rows)
        #expect(a.columnCount == columns)
        #expect(a.nonzeroCount == nonzeros)
        #expect(header.format == format)
        #expect(header.field == field)
        #expect(header.symmetry == symmetry)
        #expect(header.rowCount == rows && header.columnCount == columns)
        // The CSR invariants hold (the checked initializer re-validates them).
        #expect(throws: Never.self) {
            try CSRMatrix(rowCount: a.rowCount, columnCount: a.columnCount, rowOffsets: a.rowOffsets, columnIndices: a.columnIndices, values: a.values)
        }
        // Header-only reading agrees with the full read.
        #expect(try MatrixMarket.readHeader(from: sharedMatrix(name)) == header)
    }

    @Test func bcsstk13IsSymmetricAfterExpansion() throws {
        let (header, a) = try MatrixMarket.readMatrix(from: sharedMatrix("bcsstk13.mtx"))
        #expect(header.storedEntryCount == 42943)
        let t = a.transposed()
        #expect(t.rowOffsets == a.rowOffsets)
        #expect(t.columnIndices == a.columnIndices)
        #expect(bitsEqual(t.values, a.values))
    }

    @Test func illc1850KeepsItsExplicitZeros() throws {
        let (_, a) = try MatrixMarket.readMatrix(from: sharedMatrix("illc1850.mtx.gz"))
        #expect(a.values.filter { $0 == 0 }.count == 122)
        // First entry of the file: "1 1  2.7735009810000e-01".
        #expect(a.value(row: 0, column: 0) == 2.7735009810000e-01)
    }

    @Test func ash219PatternIsAllOnes() throws {
        let (header, a) = try MatrixMarket.readMatrix(from: sharedMatrix("ash219.mtx"))
        #expect(a.values.allSatisfy { $0 == 1 })
        // Lines 2-13 of the file (SOURCES.md counts the banner too).
        #expect(header.comments.count == 12)
    }

    @Test func sourcesIntegerVectorAndGraphBLASComment() throws {
        let header = try MatrixMarket.readHeader(from: sharedMatrix("sources_7.mtx"))
        #expect(header.comments == ["%GraphBLAS type int64_t"])
        let v = try MatrixMarket.readVector(from: sharedMatrix("sources_7.mtx"))
        #expect(v.count == 64)
        #expect(v[0] == 2 && v[1] == 5)
        #expect(v.allSatisfy { $0 == $0.rounded() })
    }

    @Test func fullSymmetricArrayIsExpanded() throws {
        let (header, a) = try MatrixMarket.readMatrix(from: sharedMatrix("full_symmetric.mtx"))
        #expect(header.storedEntryCount == 10)
        // Lower triangle column-major: column 0 rows 0-3, column 1 rows 1-3, ...
        let stored = [10.762188911437988, 18.18952178955078, 28.239410400390625, 22.269603729248047,
                      7.084949970245361, 18.75064468383789, 19.203340530395508,
                      7.289100170135498, 19.899736404418945, 3.9635860919952393]
        var k = 0
        for j in 0 ..< 4 {
            for i in j ..< 4 {
                #expect(a.value(row: i, column: j) == stored[k])
                #expect(a.value(row: j, column: i) == stored[k])
                k += 1
            }
        }
    }

    @Test func nistCRLFFile() throws {
        let (header, a) = try MatrixMarket.readMatrix(from: sharedMatrix("windows_lineendings_nist_ex1_more_freeformat.mtx"))
        #expect(header.comments == [" comment", " more comment"])
        #expect(a.value(row: 2, column: 2) == 1.5e-2)
        #expect(a.value(row: 3, column: 3) == -2.8e2)
        #expect(a.value(row: 4, column: 4) == 12)
        #expect(a.value(row: 3, column: 4) == 33.32)
        #expect(a.value(row: 0, column: 3) == 6)
    }

    @Test func illc1850RightHandSideIsAVector() throws {
        let b = try MatrixMarket.readVector(from: sharedMatrix("illc1850_rhs1.mtx.gz"))
        #expect(b.count == 1850)
        let header = try MatrixMarket.readHeader(from: sharedMatrix("illc1850_rhs1.mtx.gz"))
        #expect(header.format == .array && header.rowCount == 1850 && header.columnCount == 1 && header.storedEntryCount == 1850)
        #expect(header.comments.first?.hasPrefix(" RBTitle: 1UNSYMMETRIC LEAST-SQUARES PROBLEM.") == true)
    }

    @Test func c32IsRejectedAsComplex() throws {
        let error = caught { try MatrixMarket.readMatrix(from: sharedMatrix("c32.mtx")) }
        #expect(error?.line == 1)
        #expect(error?.message.contains("complex matrices are not supported") == true)
        #expect(error?.description.hasPrefix(sharedMatrix("c32.mtx") + ":1: complex") == true)
        // Its header alone is legal and readable.
        let header = try MatrixMarket.readHeader(from: sharedMatrix("c32.mtx"))
        #expect(header.field == .complex && header.rowCount == 3 && header.columnCount == 2 && header.storedEntryCount == 6)
    }
}

/// CI sets HYPERREG_REQUIRE_SHARED_DATA=1: there the shared files must be present, so the
/// suite above can never silently vanish.
@Suite("Shared data presence")
struct SharedDataPresenceTests {
    @Test func presentWhenRequired() {
        #expect(TestPaths.sharedDataAvailable || !TestPaths.sharedDataRequired,
                "HYPERREG_REQUIRE_SHARED_DATA=1 but \(TestPaths.sharedMatrixDirectory.path) does not exist")
    }
}
