import Testing
@testable import Cholmod

/// The command line's OpenBLAS thread count (Cholmod/BLASThreads.swift).
@Suite("OpenBLAS threads by problem size")
struct BLASThreadsTests {
    /// One thread when the d x d factorisation (d^3 / 3 flops) costs less than a pass over the
    /// nonzeros, OpenBLAS's default otherwise (1 when the BLAS is not OpenBLAS, whose count
    /// cannot be set).
    @Test func oneThreadOnlyWhenTheFactorisationIsSmall() {
        #expect(BLASThreads.count(dimension: 200, nonzeros: 20_000_000) == 1)
        #expect(BLASThreads.count(dimension: 50, nonzeros: 100_000) == 1)
        let big = BLASThreads.count(dimension: 1000, nonzeros: 20_000_000)
        let huge = BLASThreads.count(dimension: 20_000, nonzeros: 400_000)
        #expect(big == huge && big >= 1)
    }
}
