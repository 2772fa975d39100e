// The `hyperreg` command: thin layer over the HyperReg library (no mathematics here).
//   hyperreg solve A.mtx b.mtx [...]     solve, write x and a JSON report
//   hyperreg generate --rows ... --output-dir DIR
//   hyperreg info FILE
//   hyperreg partition A.mtx [b.mtx] [w.mtx] --parts K --output-dir DIR
// Exit codes: 0 success, 64 usage error, 1 input or numerical error (docs/cli.md).

import ArgumentParser
import Foundation
import HyperReg
import HyperRegReport
import MatrixMarket
import SparseCore

@main
struct HyperRegCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hyperreg",
        abstract: "Rescaled hyperbolic functions regression on sparse Matrix Market data.",
        discussion: """
        Minimises L(x) = 0.5 ||u(Ax) - <u(Ax),1> b||^2 + 0.5 ||diag(w) A x||^2, u in {exp, cosh, sinh}.
        Results go to stdout or files, progress and diagnostics to stderr.
        Exit codes: 0 success, 64 usage error, 1 input or numerical error.
        """,
        version: HyperRegVersion.string,
        subcommands: [Solve.self, Generate.self, Info.self, Diagnose.self, Shift.self, Partition.self, MPICheck.self]
    )

    /// ArgumentParser's own main, with two changes: error messages (which quote file names,
    /// option values and tokens, all user text) go through `escapingControlCharacters` line
    /// by line, so that no C0 or C1 control character reaches the terminal raw; and a
    /// `UsageFailure` (an output path refused after parsing) exits 64 without the usage
    /// text, which would bury the reason.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // Every rank of a distributed run agreed on this one (Distributed.swift).
            if let failure = error as? RankFailure { Distributed.exit(after: failure) }
            // --help, --version: printed as usual.
            guard let (code, text) = errorOutcome(for: error) else { exit(withError: error) }
            FileHandle.standardError.write(Data((text + "\n").utf8))
            Distributed.exitAfterUnagreedError(code)
        }
    }
}

/// Options shared by commands that run kernels.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Threads for the streaming kernels (default: HYPERREG_THREADS or all cores). Results do not depend on it.")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be >= 1") }
    }

    func apply() {
        if let t = threads { Parallelism.threadCount = t }
    }
}

/// An error for the user: printed as `Error: <message>`, exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Writes a line to standard error, control characters (C0 and C1) escaped as `\xNN`: the
/// line may quote user text (file names, messages).
func printError(_ text: String) {
    FileHandle.standardError.write(Data((escapingControlCharacters(text) + "\n").utf8))
}

/// Seconds of a monotonic clock since `start`.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let c = (ContinuousClock.now - start).components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}
