// Output discipline for every command (docs/cli.md, "Outputs"): each output path is
// resolved and checked before any input is read; an output that is the same file as an
// input or as another output is refused (exit 64); the outputs of a run are committed
// together at the end (MatrixMarket's `OutputFiles.commit`): temporary files first, then
// standard output and devices, then the renames. Named temporary files are removed on
// SIGINT, SIGTERM, SIGHUP and SIGPIPE.

import ArgumentParser
import Foundation
import MatrixMarket

/// A refused command line found after parsing (exit 64, like a usage error, but without
/// the usage text, which would bury the reason).
struct UsageFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The outputs of one run, resolved before any work.
struct OutputPlan {
    /// One resolved output: the option that named it and where it goes.
    struct Entry {
        let option: String
        let target: OutputTarget
    }

    private(set) var entries: [Entry] = []

    /// Resolves `outputs` (option spelling, path; nil paths are skipped) and checks them
    /// against each other and against `inputs` (what the input is, path).
    ///
    /// - Throws: `UsageFailure` naming the option, the path and the reason.
    init(outputs: [(option: String, path: String?)], inputs: [(what: String, path: String?)]) throws {
        OutputSignalCleanup.install()
        let inputIdentities = inputs.compactMap { input -> (String, String, FileIdentity)? in
            guard let path = input.path, path != "-", let id = FileIdentity.of(path), id.isRegularFile else { return nil }
            return (input.what, path, id)
        }
        var claimed: [(option: String, path: String, key: String)] = []
        for case let (option, path?) in outputs {
            let target: OutputTarget
            do { target = try OutputTarget.resolve(path) } catch {
                throw UsageFailure(message: "\(option) \(error)")
            }
            if let id = target.existing, id.isRegularFile {
                for (what, inputPath, inputID) in inputIdentities where inputID == id {
                    let name = target.kind == .standardOutput ? "standard output" : path
                    throw UsageFailure(message: "\(option) \(name) is the same file as \(what) (\(inputPath)); writing it would destroy the input. Choose another output path.")
                }
            }
            // Two outputs to one place: the second would overwrite the first.
            if target.kind != .standardOutput || target.existing?.isRegularFile == true {
                let key = Self.key(target)
                if let earlier = claimed.first(where: { $0.key == key }) {
                    throw UsageFailure(message: "\(option) \(path) is the same file as \(earlier.option) \(earlier.path); one output would overwrite the other.")
                }
                claimed.append((option, path, key))
            }
            entries.append(Entry(option: option, target: target))
        }
    }

    /// The target resolved for `option`, if it was given.
    func target(_ option: String) -> OutputTarget? {
        entries.first { $0.option == option }?.target
    }

    /// Writes the outputs together (see `OutputFiles.commit`); `bytes` maps an option to its
    /// chunks, and options absent from it are not written. `standardOutput`, when given, is
    /// a table for standard output written in the same commit.
    func commit(_ bytes: [String: [[UInt8]]], standardOutput: [UInt8]? = nil) throws {
        var items = entries.compactMap { e in bytes[e.option].map { (target: e.target, chunks: $0) } }
        do {
            if let table = standardOutput { items.append((target: try OutputTarget.resolve("-"), chunks: [table])) }
            try OutputFiles.commit(items)
        } catch { throw CLIError("\(error)") }
    }

    /// What identifies a destination: its device and inode when it exists, else the real
    /// path of its folder and its name.
    private static func key(_ target: OutputTarget) -> String {
        if let id = target.existing { return "id:\(id.device):\(id.inode)" }
        let destination = target.destination
        let slash = destination.lastIndex(of: "/")
        let folder = slash.map { $0 == destination.startIndex ? "/" : String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let real = URL(fileURLWithPath: folder).resolvingSymlinksInPath().standardizedFileURL.path
        return "path:\(real)/\(base)"
    }
}

/// Creates the output folder `directory` (and its parents) when missing, and returns a function
/// giving the path of a file named `name` in it; a folder that cannot be made is an error
/// naming it (`generate`, `partition`).
func outputFolder(_ directory: String) throws -> (String) -> String {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw CLIError("\(directory): cannot create the directory: \(error.localizedDescription)")
    }
    let url = URL(fileURLWithPath: directory)
    return { url.appendingPathComponent($0).path }
}

/// Writes `text` to standard output, every write checked (a full disk or a closed pipe is
/// an error, exit 1, not a silent success).
func writeStandardOutput(_ text: String) throws {
    let stdout = try OutputTarget.resolve("-")
    do { try OutputFiles.commit([(target: stdout, chunks: [Array(text.utf8)])]) } catch { throw CLIError("\(error)") }
}
