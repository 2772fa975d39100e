// A Swift Testing trait shared by the test targets that factor with CHOLMOD.

import Cholmod
import Testing

/// Swift Testing trait: after the test (or each test of a suite), no CHOLMOD block may be left allocated by a
/// released context: `CholmodContext.blocksLeakedAtFinish` is cumulative for the process,
/// so a leak in any test that factored shows up here.
public struct CholmodLeakCheck: TestTrait, SuiteTrait, TestScoping {
    /// Applies to every test of a suite.
    public var isRecursive: Bool { true }

    /// Runs the test, then checks the count.
    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await function()
        #expect(CholmodContext.blocksLeakedAtFinish == 0, "CHOLMOD blocks left allocated when a context was released")
    }
}

extension Trait where Self == CholmodLeakCheck {
    /// Checks CHOLMOD's malloc_count after every test it covers.
    public static var checksCholmodLeaks: Self { CholmodLeakCheck() }
}
