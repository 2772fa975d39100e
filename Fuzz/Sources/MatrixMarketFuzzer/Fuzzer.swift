// libFuzzer entry point for the Matrix Market reader. Every input must either read into a
// structurally valid result or throw a MatrixMarketError naming the input; anything else
// (a trap, an ASan report, a leak, a hang) is a finding.

#if canImport(Glibc)
import Glibc
#endif
import MatrixMarket
import SparseCore

/// Checks what a successful read returned; traps (a libFuzzer crash) on a broken invariant.
private func checkMatrix(_ header: MatrixMarketHeader, _ m: CSRMatrix) {
    precondition(m.rowCount == header.rowCount && m.columnCount == header.columnCount, "shape differs from the header")
    // The checked initialiser validates offsets, index ranges and ordering.
    do {
        _ = try CSRMatrix(rowCount: m.rowCount, columnCount: m.columnCount, rowOffsets: m.rowOffsets,
                          columnIndices: m.columnIndices, values: m.values)
    } catch {
        preconditionFailure("the reader returned an invalid CSR matrix: \(error)")
    }
    precondition(m.values.allSatisfy(\.isFinite), "a non-finite value passed the default options")
}

/// Errors must name the input and, when they carry a line, a line >= 1.
private func checkError(_ error: MatrixMarketError, name: String) {
    precondition(error.path == name, "error names \(error.path), not \(name)")
    if let line = error.line { precondition(line >= 1, "line \(line) < 1") }
    precondition(!error.message.isEmpty, "empty message")
}

/// Where round-trip copies are written.
private let roundTripPath: String = {
    let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    return "\(dir)/hyperreg-fuzz-\(getpid())-copy.mtx"
}()

/// Writing a matrix that was read and reading it back must give the same matrix, bit for bit.
private func roundTrip(_ m: CSRMatrix) {
    do {
        try MatrixMarket.writeCoordinate(m, to: roundTripPath)
        let again = try MatrixMarket.readMatrix(from: roundTripPath).matrix
        precondition(again == m, "write then read changed the matrix")
    } catch {
        preconditionFailure("a matrix that was read could not be written and read back: \(error)")
    }
}

/// Where gzip inputs are written (a file per process; /dev/shm when present).
private let gzipPath: String = {
    let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    return "\(dir)/hyperreg-fuzz-\(getpid()).mtx.gz"
}()

/// Declared sizes beyond this are refused before allocating (libFuzzer's default limit is
/// 2 GB of RSS; the physical-memory guard itself is tested in MalformedTests).
private let memoryLimit = 256 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let name = "fuzz-input"
    if size >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B {
        // gzip: the zlib streaming path reads from a file.
        let fd = open(gzipPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return 0 }
        _ = write(fd, data, size)
        close(fd)
        do {
            let (header, matrix) = try MatrixMarket.readMatrix(from: gzipPath, options: .init(memoryLimit: memoryLimit))
            checkMatrix(header, matrix)
        } catch {
            checkError(error, name: gzipPath)
        }
        do { _ = try MatrixMarket.readHeader(from: gzipPath) } catch { checkError(error, name: gzipPath) }
        return 0
    }
    do {
        let (header, matrix) = try MatrixMarket.readMatrix(bytes: bytes, name: name, options: .init(memoryLimit: memoryLimit))
        checkMatrix(header, matrix)
        roundTrip(matrix)
    } catch {
        checkError(error, name: name)
    }
    do {
        let v = try MatrixMarket.readVector(bytes: bytes, name: name, options: .init(allowNonFinite: true, memoryLimit: memoryLimit))
        if let header = try? MatrixMarket.readMatrix(bytes: bytes, name: name, options: .init(allowNonFinite: true, memoryLimit: memoryLimit)).header {
            precondition(v.count == (header.rowCount == 0 || header.columnCount == 0 ? 0 : max(header.rowCount, header.columnCount)), "vector length")
        }
    } catch {
        checkError(error, name: name)
    }
    return 0
}
