// The run's communicator and rank-aware errors (issue 17, docs/scale-out.md).
//
// Built with `HYPERREG_MPI=1` (Package.swift defines the HYPERREG_MPI condition), `hyperreg`
// started by `mpirun`/`srun` as one of several ranks combines through MPI; every other run,
// and every run of the plain build, uses `SingleProcess` and never touches MPI, so it has
// the plain build's output and bits.

import ArgumentParser
import Foundation
import MatrixMarket
import SparseCore
import Synchronization
#if HYPERREG_MPI
import HyperRegMPI
#endif

/// The run's communicator and how a distributed run ends on an error.
enum Distributed {
    /// True when this executable was built with MPI support (`HYPERREG_MPI=1`).
    static var isMPIBuild: Bool {
        #if HYPERREG_MPI
        return true
        #else
        return false
        #endif
    }

    /// The communicator of this run, created on first use (collective under MPI: every rank
    /// must ask for it at the same point). The MPI build started by a launcher as one of
    /// several ranks initialises MPI and returns an `MPICommunicator`; otherwise
    /// `SingleProcess.shared`, without initialising MPI. MPI is finalised at exit.
    static let communicator: any Communicator = {
        let made = makeCommunicator()
        created.withLock { $0 = true }
        return made
    }()

    /// True once `communicator` has been created and has more than one rank.
    static var isRunningDistributed: Bool { created.withLock { $0 } && communicator.isDistributed }

    private static let created = Mutex(false)

    private static func makeCommunicator() -> any Communicator {
        #if HYPERREG_MPI
        if let ranks = MPIRuntime.launcherWorldSize, ranks > 1 {
            let mpi = MPICommunicator()
            if mpi.size > 1 { return mpi }
            // e.g. srun without --mpi=pmix: every process is a world of its own.
            printError("Warning: the launcher started \(ranks) ranks, but MPI sees a world of 1 (does the launcher speak this MPI's process-management interface? srun needs --mpi=pmix): every process runs the whole problem on its own")
        }
        #else
        if let ranks = launcherRankCount, ranks > 1 {
            printError("Warning: started as one of \(ranks) ranks, but this hyperreg was built without MPI (HYPERREG_MPI=1, docs/scale-out.md): every process runs the whole problem on its own")
        }
        #endif
        return SingleProcess.shared
    }

    #if !HYPERREG_MPI
    /// The rank count an MPI launcher announces in the environment (Open MPI's mpirun,
    /// MPICH's Hydra), for the plain build's warning.
    private static var launcherRankCount: Int? {
        let environment = ProcessInfo.processInfo.environment
        return (environment["OMPI_COMM_WORLD_SIZE"] ?? environment["PMI_SIZE"]).flatMap { Int($0) }
    }
    #endif

    /// Runs `body` on every rank and agrees on how it ended: when it throws on any rank,
    /// every rank throws the same `RankFailure` (the lowest failing rank's message and exit
    /// code), so all ranks stop together with one message instead of some waiting in the
    /// next collective. Every rank must call it at the same point (it is a collective: one
    /// `firstError` gather). A single-process run just runs `body`.
    static func agreeing<T>(_ communicator: any Communicator, _ body: () throws -> T) throws -> T {
        if !communicator.isDistributed { return try body() }
        let outcome = Result { try body() }
        var local: String? = nil
        if case .failure(let error) = outcome, !(error is Follower) {
            let (code, text) = errorOutcome(for: error) ?? (1, "Error: \(error)")
            local = "\(code)\n\(text)"
        }
        if let (rank, packed) = communicator.firstError(local) {
            let parts = packed.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            throw RankFailure(exitCode: Int32(parts[0]) ?? 1, text: parts.count > 1 ? String(parts[1]) : "", originRank: rank)
        }
        return try outcome.get()
    }

    /// The error of a rank whose step failed only because another rank's did (a library call
    /// that agreed on an error found elsewhere, e.g. `ProblemError.Kind.onAnotherRank`): inside
    /// `agreeing` it contributes no message, so the rank that found the problem, with its
    /// file names, speaks for all.
    struct Follower: Error, CustomStringConvertible {
        var description: String { "another rank of this run failed" }
    }

    /// In a distributed run without `--threads` or `HYPERREG_THREADS`: each rank's kernels use
    /// its share of the node's cores: the cores it is bound to when the launcher binds it, else
    /// `max(1, cores / ranks on this node)` (Open MPI's
    /// `OMPI_COMM_WORLD_LOCAL_SIZE`, else Slurm's `SLURM_NTASKS_PER_NODE`, else all ranks), so K
    /// ranks on one machine do not run K x cores threads.
    static func applyRankThreads(explicit: Int?) {
        let environment = ProcessInfo.processInfo.environment
        guard explicit == nil, environment["HYPERREG_THREADS"] == nil else { return }
        let local = (environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["SLURM_NTASKS_PER_NODE"]).flatMap { Int($0) } ?? communicator.size
        // A rank bound to its cores (mpirun's default binding) already sees only those.
        let cores = Parallelism.availableProcessors
        Parallelism.threadCount = max(1, cores >= ProcessInfo.processInfo.activeProcessorCount ? cores / max(1, local) : cores)
    }

    /// Ends this rank after an agreed failure: rank 0 prints the message (one copy in the
    /// launcher's merged output, the same text a single-process run prints), every rank
    /// exits with the same code and finalises MPI on the way out.
    static func exit(after failure: RankFailure) -> Never {
        if !isRunningDistributed || communicator.rank == 0 {
            FileHandle.standardError.write(Data((failure.text + "\n").utf8))
        }
        Foundation.exit(failure.exitCode)
    }

    /// Ends this rank after an error the ranks did not agree on (`text` already printed):
    /// in a distributed run the others may be waiting in a collective, so the whole run is
    /// aborted with `code` (MPI_Abort: the last resort); otherwise a plain exit.
    static func exitAfterUnagreedError(_ code: Int32) -> Never {
        #if HYPERREG_MPI
        if isRunningDistributed {
            printError("hyperreg: rank \(communicator.rank) of \(communicator.size) ends the run (MPI_Abort, exit code \(code)) after this error")
            MPIRuntime.abort(code)
        }
        #endif
        Foundation.exit(code)
    }
}

/// An error every rank of a distributed run agreed on (`Distributed.agreeing`): the text to
/// print (already formatted and escaped, `Error: ...`) and the exit code.
struct RankFailure: Error, CustomStringConvertible {
    /// The exit code every rank ends with.
    let exitCode: Int32
    /// The message, as a single-process run would print it.
    let text: String
    /// The lowest rank that failed.
    let originRank: Int
    var description: String { text }
}

/// The exit code and the printed text (control characters escaped line by line) for an
/// error thrown by a command, as `HyperRegCommand.main` reports it; nil for the "errors"
/// that end a run successfully (--help, --version), which ArgumentParser prints itself.
func errorOutcome(for error: any Error) -> (code: Int32, text: String)? {
    if let failure = error as? UsageFailure {
        return (64, escapingControlCharacters("Error: \(failure.message)"))
    }
    let code = HyperRegCommand.exitCode(for: error)
    if code == .success { return nil }
    let text = HyperRegCommand.fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false)
        .map { escapingControlCharacters(String($0)) }.joined(separator: "\n")
    return (code.rawValue, text)
}
