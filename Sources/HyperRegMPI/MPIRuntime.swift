// HyperRegMPI: the `Communicator` of a row-partitioned run over Open MPI's C API
// (docs/scale-out.md). Built only with `HYPERREG_MPI=1` (Package.swift); the plain build
// has no MPI at all.
//
// `MPIRuntime` owns the process's MPI state (initialise once, finalise at exit, abort,
// failures reported in words); `MPICommunicator` implements the collectives of
// `Communicator` on a duplicate of MPI_COMM_WORLD.

import CMPI
import SparseCore
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The process's MPI state: initialised once (on first use), finalised at exit.
///
/// Threading: MPI is initialised with `MPI_THREAD_SERIALIZED`, so collectives may be called
/// from any thread, one thread at a time (the solver's worker threads never call MPI; the
/// thread that runs the solve does).
public enum MPIRuntime {
    private struct State {
        var initialized = false
        var finalized = false
        var worldRank = 0
        var worldSize = 1
    }
    private static let state = Mutex(State())

    /// The number of ranks the launcher started, read from the environment it sets before
    /// the program runs, or nil when no known launcher started this process:
    /// `OMPI_COMM_WORLD_SIZE` (Open MPI's `mpirun`), `PMI_SIZE` (MPICH's Hydra, Slurm's PMI-2),
    /// `SLURM_STEP_NUM_TASKS` when `srun` started this task (`SLURM_PROCID` set).
    /// It needs no MPI call, so a plain run never initialises MPI.
    public static var launcherWorldSize: Int? {
        for name in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let value = environment(name).flatMap({ Int($0) }), value >= 1 { return value }
        }
        if environment("SLURM_PROCID") != nil, let value = environment("SLURM_STEP_NUM_TASKS").flatMap({ Int($0) }), value >= 1 {
            return value
        }
        return nil
    }

    /// True when a launcher (`mpirun`, `srun`) started this process as one of several ranks.
    public static var startedWithSeveralRanks: Bool { (launcherWorldSize ?? 1) > 1 }

    /// True once `initialize()` has run and until `finalize()`.
    public static var isActive: Bool { state.withLock { $0.initialized && !$0.finalized } }

    /// Initialises MPI (`MPI_Init_thread`, serialised threading) unless already done, and
    /// registers `finalize()` to run at exit. Returns this process's rank and the world size.
    /// A failure is reported on standard error and ends the process with exit code 1.
    @discardableResult
    public static func initialize() -> (rank: Int, size: Int) {
        let done = state.withLock { s -> (Int, Int)? in s.initialized ? (s.worldRank, s.worldSize) : nil }
        if let done { return done }
        var alreadyByOthers: Int32 = 0
        _ = MPI_Initialized(&alreadyByOthers)
        if alreadyByOthers == 0 {
            var provided: Int32 = 0
            let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
            if code != MPI_SUCCESS {
                writeError("hyperreg: MPI_Init_thread failed: \(errorString(code))")
                exit(1)
            }
            if provided < Int32(MPI_THREAD_SERIALIZED) {
                writeError("hyperreg: this MPI library provides threading level \(provided), below MPI_THREAD_SERIALIZED (\(MPI_THREAD_SERIALIZED)), which hyperreg needs")
                _ = MPI_Abort(CMPI_COMM_WORLD(), 1)
                exit(1)
            }
            atexit { MPIRuntime.finalize() }
        }
        // Errors on MPI_COMM_WORLD (used by abort) come back as codes, not as Open MPI's abort.
        check(MPI_Comm_set_errhandler(CMPI_COMM_WORLD(), CMPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        check(MPI_Comm_rank(CMPI_COMM_WORLD(), &rank), "MPI_Comm_rank")
        check(MPI_Comm_size(CMPI_COMM_WORLD(), &size), "MPI_Comm_size")
        state.withLock {
            $0.initialized = true
            $0.worldRank = Int(rank)
            $0.worldSize = Int(size)
        }
        return (Int(rank), Int(size))
    }

    /// Finalises MPI if this module initialised it and nobody finalised it yet (registered
    /// with `atexit` by `initialize()`; calling it earlier is allowed). Every rank must reach
    /// it: a rank left waiting in a collective makes the others wait here.
    public static func finalize() {
        let shouldFinalize = state.withLock { s -> Bool in
            guard s.initialized, !s.finalized else { return false }
            s.finalized = true
            return true
        }
        guard shouldFinalize else { return }
        var already: Int32 = 0
        _ = MPI_Finalized(&already)
        if already == 0 { _ = MPI_Finalize() }
    }

    /// Ends every rank of the run with exit code `code` (`MPI_Abort` on MPI_COMM_WORLD): the
    /// last resort for an error the ranks could not agree on (the others may be waiting in a
    /// collective). Without active MPI, exits this process.
    public static func abort(_ code: Int32) -> Never {
        if isActive {
            _ = MPI_Abort(CMPI_COMM_WORLD(), code)
        }
        exit(code)
    }

    /// Reports a failed MPI call (`code` not MPI_SUCCESS) on standard error with the rank and
    /// MPI's own words, then aborts the run with exit code 1: the collectives cannot throw,
    /// and a rank that left one half done would leave the others waiting.
    static func check(_ code: Int32, _ call: @autoclosure () -> String) {
        guard code != MPI_SUCCESS else { return }
        let (rank, size) = state.withLock { ($0.worldRank, $0.worldSize) }
        writeError("hyperreg: \(call()) failed on rank \(rank) of \(size): \(errorString(code))")
        abort(1)
    }

    /// Stops with a message when a precondition of the transport fails (a caller's mistake,
    /// e.g. counts that differ between ranks in an ordered sum): reported, then the run is
    /// aborted, since the other ranks would otherwise wait.
    static func fail(_ message: String) -> Never {
        let (rank, size) = state.withLock { ($0.worldRank, $0.worldSize) }
        writeError("hyperreg: MPI transport error on rank \(rank) of \(size): \(message)")
        abort(1)
    }

    /// MPI's description of an error code.
    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        if MPI_Error_string(code, &buffer, &length) != MPI_SUCCESS { return "MPI error code \(code)" }
        let bytes = buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self) + " (code \(code))"
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    private static func writeError(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { bytes in
            var rest = UnsafeRawBufferPointer(bytes)
            while !rest.isEmpty {
                let n = write(2, rest.baseAddress, rest.count)
                if n <= 0 { return }   // standard error closed: nothing else to tell
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
        }
    }
}
