// HyperReg: the solver for rescaled hyperbolic functions regression,
//
//     min_x  L(x) = 0.5 * || u(Ax) - <u(Ax), 1> b ||^2 + 0.5 * || w o (A x) ||^2,
//
// u in {exp, cosh, sinh} (Gao, Song, Yin). Contents:
// * `FunctionKind`, `Problem`: the data and its validation;
// * `Objective`: the fused streaming passes for loss, gradient, Hessian pieces (docs/math.md);
// * `NewtonSolver`: exact Newton on CHOLMOD with Woodbury for the rank-2 part, Armijo
//   backtracking, Gauss-Newton and damping fall-backs, and the per-iteration trace;
// * `StartPoint`: documented default starting points;
// * `PlantedProblem`: reproducible generated problems.

/// The hyperreg package as a dependency.
public enum HyperRegPackage {
    /// The package's version (semantic versioning, "0.1.0"): what `hyperreg --version` prints
    /// and every report's `version`. A release is tagged with it (git tag `0.1.0`), which is
    /// what `.package(url:from:)` resolves.
    public static let version = "0.1.0"
}
