// Cholmod: owned CHOLMOD objects with Swift errors (docs/architecture.md, layer 3).
//
// This module is the only place the project touches SuiteSparse's CHOLMOD (through the
// `CSuiteSparse` system-library target, imported `internal`ly: no C type appears in the
// public API). It offers three things:
//
// * `CholmodContext`: owns one `cholmod_common` at a stable heap address, configured so that
//   CHOLMOD never prints (`print = 0`) and always computes an LLᵀ factor (`final_ll = 1`),
//   which is what makes an indefinite matrix *detected* instead of silently factored as LDLᵀ.
// * `SymmetricFactor`: the Cholesky factor of `K + shift·I` for a symmetric `K` given by the
//   upper triangle of a fixed pattern (CSC, `Int32` indices). The symbolic analysis is done
//   once; each `factorize(values:shift:)` is numeric only (Newton's Hessian pattern is fixed).
// * `NormalEquationsFactor`: the Cholesky factor of `Aᵀ diag(s) A + shift·I` for an `n x d`
//   `CSRMatrix` A, without copying A's index arrays: the CSR arrays of A are the CSC arrays of
//   `F = Aᵀ` (d x n), and CHOLMOD factors `F Fᵀ + βI` directly.
//
// Every CHOLMOD status becomes a thrown `CholmodError` (typed throws); "not positive
// definite" is the recoverable case a Newton loop catches to raise its shift, and a factor
// that failed can be factorized again. Matrices are handed to CHOLMOD as zero-copy views
// built on the stack inside `withUnsafeBufferPointer` closures and never stored, and every
// object CHOLMOD returns is freed with `defer`. Only the `Int32` interface (`cholmod_*`,
// not `cholmod_l_*`) is used.
//
// None of the types is `Sendable`: a `cholmod_common` is not thread-safe. Use one context per
// solver or task.

/// The fill-reducing ordering used by the symbolic analysis.
public enum CholmodOrdering: Sendable, Hashable, CaseIterable {
    /// CHOLMOD's default strategy: AMD, and METIS too when AMD's fill-in looks poor
    /// (`nmethods = 0`). Best for sparse matrices.
    case automatic
    /// No permutation (`nmethods = 1`, `method[0].ordering = CHOLMOD_NATURAL`, no
    /// postordering): pivot `k` of the factor is column `k` of the matrix. Cheaper analysis
    /// for dense matrices, where no ordering can reduce fill (d = 1000: about 10 ms instead
    /// of 20 ms). Not for sparse matrices: with neither fill reduction nor postordering it
    /// can be far slower (d = 5000 at 0.1% density: 4 s instead of 73 ms to factorize).
    case natural
}
