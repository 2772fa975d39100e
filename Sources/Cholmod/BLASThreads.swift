// OpenBLAS's thread count for a solve (issue 14). CHOLMOD's supernodal factorisation and solves
// call BLAS; OpenBLAS runs each call on its own threads, which spin for a while after every call.
// When the d x d work is small beside a pass over A, those spinning threads take a core from the
// solver's own passes: at n = 1e6, d = 200 (a factorisation of 1.5 ms, a pass of 7.5 ms) the
// default solve took 0.40 s with OpenBLAS's default threads and 0.33 s with one, the exact solve
// 0.515 and 0.447 s (docs/performance.md). So the command line, one solve per process, sets
// OpenBLAS to one thread for a problem whose factorisation is cheaper than a pass. The library
// leaves OpenBLAS alone: its setting is process-wide, and solves running at the same time (tests,
// threads of a host program) would change each other's bits; a host program can call
// `BLASThreads.configure` itself.

#if canImport(Glibc)
import Glibc
#endif

/// Sets OpenBLAS's thread count (when the BLAS in use is OpenBLAS) by the size of the d x d work.
///
/// The setting is process-wide (OpenBLAS has no other): call it only where one solve runs at a
/// time. OpenBLAS's last bits can depend on its thread count; the count chosen here depends only
/// on d and nnz(A) (and OpenBLAS's default), never on `--threads`, so a problem still gives the
/// same bits for any hyperreg thread count.
public enum BLASThreads {
    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetThreads = @convention(c) () -> Int32

    /// OpenBLAS's entry points, looked up once in the loaded libraries (nil: not OpenBLAS).
    private static let entryPoints: (set: SetThreads, initial: Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW),
              let setSymbol = dlsym(handle, "openblas_set_num_threads"),
              let getSymbol = dlsym(handle, "openblas_get_num_threads") else { return nil }
        let get = unsafeBitCast(getSymbol, to: GetThreads.self)
        return (unsafeBitCast(setSymbol, to: SetThreads.self), max(1, get()))
    }()

    /// True when the BLAS in use is OpenBLAS (its thread count can be set).
    public static var isOpenBLAS: Bool { entryPoints != nil }

    /// The thread count chosen for a d x d factorisation beside passes over `nonzeros` entries:
    /// 1 when `d^3 / 3 < nonzeros` (the factorisation costs less than a pass), else OpenBLAS's
    /// own default (its count when first asked, e.g. from `OPENBLAS_NUM_THREADS`).
    public static func count(dimension d: Int, nonzeros: Int) -> Int {
        let flops = Double(d) * Double(d) * Double(d) / 3
        return flops < Double(nonzeros) ? 1 : Int(entryPoints?.initial ?? 1)
    }

    /// Applies `count(dimension:nonzeros:)` to OpenBLAS; does nothing for another BLAS.
    public static func configure(dimension d: Int, nonzeros: Int) {
        guard let e = entryPoints else { return }
        e.set(Int32(count(dimension: d, nonzeros: nonzeros)))
    }
}
