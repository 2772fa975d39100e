// The JSON reports of `hyperreg diagnose` and `hyperreg shift` (keys: docs/cli.md), shared by
// the command line and the C ABI (`hyperreg_diagnose`, `hyperreg_shift`).

import HyperReg

/// A number that may overflow Double, for JSON: value (null if it overflows) and log10.
public struct LargeNumberJSON: Encodable {
    var value: Double?
    var log10: Double
    /// The JSON form of `n`.
    public init(_ n: LargeNumber) { value = n.value; log10 = n.log10Value }
}

/// One condition for JSON.
public struct ConditionJSON: Encodable {
    var code: String
    var statement: String
    var holds: Bool
}

/// The JSON report of `hyperreg diagnose` (keys: docs/cli.md; add, never rename).
public struct DiagnoseReport: Encodable {
    struct Inputs: Encodable { var matrix: String; var target: String; var weights: String?; var x: String }
    struct Degenerate: Encodable { var code: String; var message: String }
    var inputs: Inputs
    var rows: Int
    var columns: Int
    var function: String
    var norm_a: Double
    var norm_x: Double
    var norm_b: Double
    var r: Double
    var r_given: Bool
    var norm_u: Double
    var norm_v: Double
    var norm_c: Double
    var r0: Double
    var norm_b_matrix: Double?
    var b_matrix_bound: Double?
    var sigma_min_a: Double
    var sigma_min_method: String
    var l: Double
    var hessian_max_eigenvalue: Double
    var l_method: String
    var l_residual_bound: Double?
    var l_error_estimate: Double?
    var loss: Double?
    var gradient_norm: Double?
    var min_weight_squared: Double
    var lemma_c4_threshold: Double?
    var lemma_c4_violations: Int
    var lemma_c4_holds: Bool
    var theorem_f1_threshold: Double?
    var theorem_f1_violations: Int
    var theorem_f1_holds: Bool
    var l_guaranteed_c4: Double?
    var l_guaranteed_f1: Double?
    var m_theory: LargeNumberJSON
    var m_empirical: Double?
    var m_empirical_samples: [Double]
    var lipschitz_step: Double
    var radius_theory: LargeNumberJSON?
    var radius_empirical: Double?
    var ones_residual: Double
    var conditions: [ConditionJSON]
    var degenerate_cases: [Degenerate]
    var version: String

    /// The report of `g`; the strings say where the inputs came from.
    public init(_ g: TheoryDiagnostics, matrix: String, target: String, weights: String?, x: String) {
        func f(_ v: Double) -> Double? { v.isFinite ? v : nil }
        inputs = Inputs(matrix: matrix, target: target, weights: weights, x: x)
        rows = g.rowCount; columns = g.columnCount; function = g.function.rawValue
        norm_a = g.normA; norm_x = g.normX; norm_b = g.normB; r = g.radius; r_given = g.radiusGiven
        norm_u = g.normU; norm_v = g.normV; norm_c = g.normC; r0 = g.r0
        norm_b_matrix = f(g.normBMatrix); b_matrix_bound = f(10 * g.r0 * g.r0 * g.r0 * g.r0)
        sigma_min_a = g.sigmaMinA; sigma_min_method = g.sigmaMinMethod
        l = g.l; hessian_max_eigenvalue = g.hessianMaxEigenvalue; l_method = g.lMethod
        l_residual_bound = g.lResidualBound.flatMap(f); l_error_estimate = g.lErrorEstimate.flatMap(f)
        loss = f(g.loss); gradient_norm = f(g.gradientNorm); min_weight_squared = g.minWeightSquared
        lemma_c4_threshold = f(g.lemmaC4Threshold); lemma_c4_violations = g.lemmaC4Violations
        lemma_c4_holds = g.condition("lemma_c4_weights")?.holds ?? false
        theorem_f1_threshold = f(g.theoremF1Threshold); theorem_f1_violations = g.theoremF1Violations
        theorem_f1_holds = g.condition("theorem_f1_weights")?.holds ?? false
        l_guaranteed_c4 = f(g.lGuaranteedByC4)
        l_guaranteed_f1 = f(g.lGuaranteedByF1)
        m_theory = LargeNumberJSON(g.lipschitzTheory); m_empirical = f(g.lipschitzEmpirical)
        m_empirical_samples = g.lipschitzSamples.filter { $0.isFinite }; lipschitz_step = g.lipschitzStep
        radius_theory = g.radiusTheory.map(LargeNumberJSON.init); radius_empirical = g.radiusEmpirical
        ones_residual = g.onesResidual
        conditions = g.conditions.map { ConditionJSON(code: $0.code, statement: $0.statement, holds: $0.holds) }
        degenerate_cases = g.degenerateCases.map { Degenerate(code: $0.code, message: $0.message) }
        version = HyperRegVersion.string
    }
}

/// The JSON report of `hyperreg shift` (keys: docs/cli.md; add, never rename).
public struct ShiftReport: Encodable {
    struct Inputs: Encodable { var matrix: String; var target: String; var from: String; var to: String?; var matrix_to: String? }
    var inputs: Inputs
    var part: Int
    var rows: Int
    var delta_b_norm: Double
    var move_norm: Double
    var ratio: Double?
    var max_abs_argument_change: Double
    var alpha_from: Double
    var alpha_to: Double
    var u_difference_norm: Double
    var alpha_difference: Double
    var c_difference_norm: Double
    var norm_a: Double
    var norm_x: Double
    var norm_b: Double
    var r: Double
    var alpha_inverse_bound: LargeNumberJSON
    var u_lipschitz_bound: LargeNumberJSON
    var c_factor: Double
    var m_explicit: LargeNumberJSON
    var bound: LargeNumberJSON?
    var conditions: [ConditionJSON]
    var shifted_fit_loss: Double
    var original_fit_loss: Double
    var identity_residual: Double
    var regularization_from: Double
    var regularization_to: Double
    var version: String

    /// The report of `s`; the strings say where the inputs came from.
    public init(_ s: InContextShift, matrix: String, target: String, from: String, to: String?, matrixTo: String?) {
        inputs = Inputs(matrix: matrix, target: target, from: from, to: to, matrix_to: matrixTo)
        part = s.part == .iterate ? 1 : 2
        rows = s.rowCount
        delta_b_norm = s.deltaBNorm; move_norm = s.moveNorm; ratio = s.ratio
        max_abs_argument_change = s.maxAbsArgumentChange
        alpha_from = s.alphaFrom; alpha_to = s.alphaTo
        u_difference_norm = s.uDifferenceNorm; alpha_difference = s.alphaDifference; c_difference_norm = s.cDifferenceNorm
        norm_a = s.normA; norm_x = s.normX; norm_b = s.normB; r = s.radius
        alpha_inverse_bound = LargeNumberJSON(s.alphaInverseBound); u_lipschitz_bound = LargeNumberJSON(s.uLipschitzBound)
        c_factor = s.cFactor; m_explicit = LargeNumberJSON(s.constant); bound = s.bound.map(LargeNumberJSON.init)
        conditions = s.conditions.map { ConditionJSON(code: $0.code, statement: $0.statement, holds: $0.holds) }
        shifted_fit_loss = s.shiftedFitLoss; original_fit_loss = s.originalFitLoss
        identity_residual = s.identityResidual
        regularization_from = s.regularizationFrom; regularization_to = s.regularizationTo
        version = HyperRegVersion.string
    }
}
