internal import CSuiteSparse
import Synchronization

/// Owns one CHOLMOD workspace (`cholmod_common`): settings, scratch memory and statistics.
///
/// The `cholmod_common` lives at a stable heap address for the context's whole life. It is
/// configured once, in `init`:
/// * `print = 0`: at its default level CHOLMOD writes warnings to **stdout**;
/// * `final_ll = 1`: simplicial factors are LLᵀ, so an indefinite matrix is reported as
///   `CholmodError.notPositiveDefinite` instead of being silently factored as LDLᵀ;
/// * `error_handler = nil`: errors are read from the status after each call (a Swift error
///   cannot be thrown through C frames).
///
/// Factors keep a strong reference to their context, so it outlives them. A context is not
/// thread-safe and not `Sendable`: use one per solver or task.
public final class CholmodContext {
    /// The `cholmod_common`; its address never changes.
    let common: UnsafeMutablePointer<cholmod_common>

    /// Number of symbolic analyses run on this context (for tests: refactorisation must
    /// not add any).
    private(set) var analysisCount = 0

    /// Starts CHOLMOD with the settings described above.
    ///
    /// The corresponding CHOLMOD function is `cholmod_start`.
    ///
    /// - Throws: the error for the status `cholmod_start` reports if it fails.
    public init() throws(CholmodError) {
        let common = UnsafeMutablePointer<cholmod_common>.allocate(capacity: 1)
        common.initialize(to: cholmod_common())
        guard cholmod_start(common) != 0, common.pointee.status >= CHOLMOD_OK else {
            let status = common.pointee.status
            common.deinitialize(count: 1)
            common.deallocate()
            throw CholmodError(status: status, function: "cholmod_start")
        }
        common.pointee.print = 0
        common.pointee.final_ll = 1
        common.pointee.error_handler = nil
        self.common = common
    }

    deinit {
        // cholmod_finish frees the workspace; the struct itself is ours. Factors hold a
        // strong reference to their context, so every block should be free by now.
        _ = cholmod_finish(common)
        let left = Int(common.pointee.malloc_count)
        if left != 0 { CholmodContext.leaked.add(left, ordering: .relaxed) }
        common.deinitialize(count: 1)
        common.deallocate()
    }

    /// Number of blocks CHOLMOD currently has allocated through this context
    /// (`cholmod_common.malloc_count`). It returns to its earlier value once every object
    /// created since then is freed (after `releaseWorkspace()`, or once the workspace has
    /// reached its size): a cheap leak check.
    public var allocationCount: Int { Int(common.pointee.malloc_count) }

    /// CHOLMOD blocks (`malloc_count`) still allocated when contexts were finished, summed
    /// over every context this process has released: 0 unless CHOLMOD memory leaked. Tests
    /// check it after every solve, since solvers own their contexts.
    public static var blocksLeakedAtFinish: Int { leaked.load(ordering: .relaxed) }
    private static let leaked = Atomic<Int>(0)

    /// Bytes CHOLMOD currently has allocated through this context
    /// (`cholmod_common.memory_inuse`).
    public var memoryInUse: Int { Int(common.pointee.memory_inuse) }

    /// Peak bytes CHOLMOD has had allocated through this context
    /// (`cholmod_common.memory_usage`).
    public var peakMemoryUsage: Int { Int(common.pointee.memory_usage) }

    /// Frees the scratch workspace CHOLMOD keeps in the context between calls (it is
    /// allocated again, at the size needed, by the next call that uses it). Factors are
    /// not affected.
    ///
    /// The corresponding CHOLMOD function is `cholmod_free_work`.
    public func releaseWorkspace() {
        _ = cholmod_free_work(common)
    }

    /// The version of the CHOLMOD library loaded at run time, e.g. `"3.0.14"`.
    ///
    /// The corresponding CHOLMOD function is `cholmod_version`.
    public static var versionString: String {
        formatVersion(Int(CSuiteSparse_cholmodLibraryVersion()))
    }

    /// The CHOLMOD version of the headers this module was compiled against.
    static var headerVersionString: String {
        formatVersion(Int(CSuiteSparse_cholmodVersion()))
    }

    private static func formatVersion(_ code: Int) -> String {
        "\(code / 10000).\(code / 100 % 100).\(code % 100)"
    }

    // MARK: - Internal helpers shared by the factor classes

    /// The settings this module relies on, read back from the `cholmod_common` (for tests).
    struct Settings: Equatable {
        var print: Int32
        var finalLL: Int32
        var finalAsIs: Int32
        var nmethods: Int32
        var firstMethodOrdering: Int32
        var postorder: Int32
        var supernodal: Int32
        var hasErrorHandler: Bool
        var tryCatch: Int32
    }

    /// The current settings.
    var settings: Settings {
        let c = common.pointee
        return Settings(print: c.print, finalLL: c.final_ll, finalAsIs: c.final_asis, nmethods: c.nmethods,
                        firstMethodOrdering: c.method.0.ordering, postorder: c.postorder,
                        supernodal: c.supernodal, hasErrorHandler: c.error_handler != nil, tryCatch: c.try_catch)
    }

    /// The settings a fresh context has.
    static let expectedSettings = Settings(print: 0, finalLL: 1, finalAsIs: 1, nmethods: 0,
                                           firstMethodOrdering: CHOLMOD_GIVEN, postorder: 1,
                                           supernodal: CHOLMOD_AUTO, hasErrorHandler: false, tryCatch: 0)

    /// Sets the print level (tests only: they check that 0 keeps stdout clean and that a
    /// positive level would not).
    func setPrintLevel(_ level: Int32) { common.pointee.print = level }

    /// Sets `final_ll` (tests only: they show that with 0 CHOLMOD's simplicial LDLᵀ accepts
    /// an indefinite matrix, i.e. that the setting made in `init` is what detects it).
    func setFinalLL(_ value: Int32) { common.pointee.final_ll = value }

    /// Runs a symbolic analysis with `ordering`, restoring the ordering settings afterwards
    /// so that one context can serve factors with different orderings.
    ///
    /// - Parameter body: calls `cholmod_analyze` (or a variant) on `common` and returns
    ///   its result.
    /// - Throws: the mapped status if the analysis failed; a factor returned together with
    ///   a failure status is freed first.
    func analyze(ordering: CholmodOrdering, function: String,
                 _ body: (UnsafeMutablePointer<cholmod_common>) -> UnsafeMutablePointer<cholmod_factor>?)
        throws(CholmodError) -> UnsafeMutablePointer<cholmod_factor> {
        let saved = (common.pointee.nmethods, common.pointee.method.0.ordering, common.pointee.postorder)
        switch ordering {
        case .automatic:
            break
        case .natural:
            common.pointee.nmethods = 1
            common.pointee.method.0.ordering = CHOLMOD_NATURAL
            common.pointee.postorder = 0
        }
        common.pointee.status = CHOLMOD_OK
        var factor = body(common)
        common.pointee.nmethods = saved.0
        common.pointee.method.0.ordering = saved.1
        common.pointee.postorder = saved.2
        analysisCount += 1
        let status = common.pointee.status
        guard status >= CHOLMOD_OK, let result = factor else {
            if factor != nil { _ = cholmod_free_factor(&factor, common) }
            throw CholmodError(status: status, function: function)
        }
        return result
    }
}

/// Not thread-safe: a `cholmod_common` must not be used from two threads at once.
@available(*, unavailable)
extension CholmodContext: Sendable {}
