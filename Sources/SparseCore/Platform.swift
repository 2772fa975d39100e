// The two facts SparseCore needs from the C library, without importing Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

func getEnvironment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// The processors this process may run on: the online ones, fewer when its CPU affinity
/// (taskset, a container's cpuset, mpirun's binding of a rank to a core) allows fewer, as
/// Linux reports it in /proc/self/status (`Cpus_allowed`, a hexadecimal mask).
func processorCount() -> Int {
    let online = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    if let allowed = allowedProcessorCount(), allowed > 0 { return min(online, allowed) }
    return online
}

/// The number of bits set in the `Cpus_allowed:` mask of /proc/self/status, or nil.
private func allowedProcessorCount() -> Int? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0, let text = line.map({ String(cString: $0) }) {
        guard text.hasPrefix("Cpus_allowed:") else { continue }
        var count = 0
        for c in text.dropFirst("Cpus_allowed:".count) {
            if let digit = c.hexDigitValue { count += digit.nonzeroBitCount }
        }
        return count
    }
    return nil
}
