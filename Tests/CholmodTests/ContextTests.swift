import Testing
import HyperRegTestSupport
@testable import Cholmod
import SparseCore

@Suite("CholmodContext", .checksCholmodLeaks)
struct ContextTests {
    @Test("a fresh context has print = 0, final_ll = 1, no error handler, default ordering")
    func freshSettings() throws {
        let context = try CholmodContext()
        #expect(context.settings == CholmodContext.expectedSettings)
        #expect(context.allocationCount == 0)
        #expect(context.memoryInUse == 0)
    }

    @Test("the run-time library version matches the headers and is CHOLMOD 3.x")
    func version() {
        let version = CholmodContext.versionString
        #expect(version == CholmodContext.headerVersionString)
        let parts = version.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count == 3)
        // The module was written against the CHOLMOD 3 struct layouts (SuiteSparse 5.x).
        #expect(parts.first == 3)
    }

    @Test("settings are unchanged after analyses with both orderings, factorisations, failures and solves")
    func settingsUnchangedAfterCalls() throws {
        let context = try CholmodContext()
        var rng = SplitMix64(seed: 11)
        for (d, density) in [(12, 0.4), (300, 0.6)] {  // simplicial and supernodal
            let pattern = UpperPattern.random(dimension: d, density: density, using: &rng)
            for ordering in CholmodOrdering.allCases {
                let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: pattern.columnOffsets,
                                                 rowIndices: pattern.rowIndices, ordering: ordering)
                #expect(context.settings == CholmodContext.expectedSettings)
                try factor.factorize(values: pattern.randomValues(using: &rng))
                _ = try factor.solve(randomVector(d, using: &rng))
                #expect(throws: CholmodError.self) {
                    try factor.factorize(values: pattern.randomValues(negativeColumn: d / 2, using: &rng))
                }
                #expect(throws: CholmodError.self) { _ = try factor.solve(randomVector(d, using: &rng)) }
                #expect(context.settings == CholmodContext.expectedSettings)
            }
        }
        let a = randomCSR(rows: 80, columns: 10, density: 0.3, using: &rng)
        let normal = try NormalEquationsFactor(context: context, matrix: a, ordering: .natural)
        try normal.factorize(rowWeights: (0..<80).map { _ in Double.random(in: 0...2, using: &rng) }, shift: 0.1)
        _ = try normal.solve(randomVector(10, using: &rng))
        #expect(context.settings == CholmodContext.expectedSettings)
    }

    @Test("allocationCount returns to its baseline after successes, thrown failures and dropped factors")
    func noLeaks() throws {
        let context = try CholmodContext()
        let baseline = context.allocationCount
        let baselineBytes = context.memoryInUse
        var rng = SplitMix64(seed: 12)

        func run() throws {
            for (d, density) in [(15, 0.3), (250, 0.5)] {
                let pattern = UpperPattern.random(dimension: d, density: density, using: &rng)
                let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: pattern.columnOffsets,
                                                 rowIndices: pattern.rowIndices)
                #expect(context.allocationCount > baseline)  // the symbolic factor is counted
                for _ in 0..<3 {
                    try factor.factorize(values: pattern.randomValues(using: &rng), shift: 0.5)
                    _ = try factor.solve(randomVector(d, using: &rng))
                    _ = try factor.solve(columns: [randomVector(d, using: &rng), randomVector(d, using: &rng)])
                    #expect(throws: CholmodError.notPositiveDefinite(column: factor.permutation.firstIndex(of: 3) ?? -1)) {
                        try factor.factorize(values: pattern.randomValues(negativeColumn: 3, using: &rng))
                    }
                    #expect(throws: CholmodError.self) { _ = try factor.solve(randomVector(d, using: &rng)) }
                    #expect(throws: CholmodError.self) { try factor.factorize(values: [1, 2, 3]) }
                }
            }
            let a = randomCSR(rows: 400, columns: 30, density: 0.2, emptyColumns: [4], using: &rng)
            let normal = try NormalEquationsFactor(context: context, matrix: a)
            try normal.factorize(rowWeights: [Double](repeating: 2, count: 400), shift: 1e-3)
            _ = try normal.solve(randomVector(30, using: &rng))
            #expect(throws: CholmodError.self) { try normal.factorize() }
            #expect(throws: CholmodError.self) { try normal.factorize(rowWeights: [Double](repeating: -1, count: 400)) }
        }

        // Everything freed, workspace released: back to exactly the starting count.
        try run()
        context.releaseWorkspace()
        #expect(context.allocationCount == baseline)
        #expect(context.memoryInUse == baselineBytes)

        // Without releasing the workspace: after a warm-up, repeated runs return to the
        // warm-up baseline (the workspace has reached its size).
        try run()
        let warm = context.allocationCount
        let warmBytes = context.memoryInUse
        try run()
        #expect(context.allocationCount == warm)
        #expect(context.memoryInUse == warmBytes)
    }

    @Test("CHOLMOD prints nothing to stdout at print = 0 (and the capture does see it at print = 3)")
    func silentStdout() throws {
        var rng = SplitMix64(seed: 13)
        let d = 10
        let pattern = UpperPattern.random(dimension: d, density: 0.4, using: &rng)
        let indefinite = pattern.randomValues(negativeColumn: 4, using: &rng)

        func failingCalls(_ context: CholmodContext) throws {
            let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: pattern.columnOffsets,
                                             rowIndices: pattern.rowIndices)
            #expect(throws: CholmodError.self) { try factor.factorize(values: indefinite) }
        }

        let quiet = try CholmodContext()
        let quietOutput = try captureStandardOutput { try failingCalls(quiet) }
        #expect(!quietOutput.contains("CHOLMOD"), "CHOLMOD wrote to stdout: \(quietOutput)")

        // Control: the same calls at CHOLMOD's default print level do write a warning, so
        // the capture above would have seen one.
        let loud = try CholmodContext()
        loud.setPrintLevel(3)
        let loudOutput = try captureStandardOutput { try failingCalls(loud) }
        #expect(loudOutput.contains("CHOLMOD"))
    }

    @Test("control: with final_ll = 0 the simplicial LDLᵀ silently accepts an indefinite matrix")
    func finalLLIsWhatDetectsIndefiniteness() throws {
        var rng = SplitMix64(seed: 14)
        let d = 10
        let pattern = UpperPattern.random(dimension: d, density: 0.4, using: &rng)
        let indefinite = pattern.randomValues(negativeColumn: 4, using: &rng)

        let context = try CholmodContext()
        context.setFinalLL(0)
        let factor = try SymmetricFactor(context: context, dimension: d, columnOffsets: pattern.columnOffsets,
                                         rowIndices: pattern.rowIndices)
        #expect(!factor.isSupernodal)
        try factor.factorize(values: indefinite)  // no error: this is the trap final_ll = 1 avoids
        #expect(factor.isFactorized)

        let safe = try CholmodContext()
        let checked = try SymmetricFactor(context: safe, dimension: d, columnOffsets: pattern.columnOffsets,
                                          rowIndices: pattern.rowIndices)
        #expect(throws: CholmodError.notPositiveDefinite(column: checked.permutation.firstIndex(of: 4) ?? -1)) {
            try checked.factorize(values: indefinite)
        }
    }

    @Test("error descriptions name the CHOLMOD constant")
    func descriptions() {
        #expect(CholmodError.notPositiveDefinite(column: 7).description.contains("CHOLMOD_NOT_POSDEF"))
        #expect(CholmodError.notPositiveDefinite(column: 7).description.contains("7"))
        #expect(CholmodError.outOfMemory.description.contains("CHOLMOD_OUT_OF_MEMORY"))
        #expect(CholmodError.tooLarge.description.contains("CHOLMOD_TOO_LARGE"))
        #expect(CholmodError.invalid("bad thing").description.contains("bad thing"))
        #expect(CholmodError.notInstalled.description.contains("CHOLMOD_NOT_INSTALLED"))
        #expect(CholmodError.other(status: 2, "x").description.contains("2"))
    }
}
