// Non-finite arithmetic (overflow) traced back to the input entry responsible, so that a
// message can say "A row 17, column 3 holds 1e155" instead of printing NaN, and a caller
// that knows file names (the CLI) can name the right file (docs/reliability.md).
//
// The blame rule: an overflowing quantity is a sum of products; the row or column where it
// is largest (or not finite) is found, and in it the largest product. Of that product's two
// factors the larger in magnitude is blamed (an input entry where one exists, else the
// arithmetic of the iterate). These functions run only after a failure, so their extra
// passes over A cost nothing in a successful run.

import SparseCore

/// The input entry found responsible for a non-finite (overflowing) quantity. Indices are
/// 1-based, as in a Matrix Market file.
public enum NonFiniteCause: Sendable, Equatable {
    /// The entry of A in `row`, `column` (1-based) holding `value`.
    case matrix(row: Int, column: Int, value: Double)
    /// Entry `index` (1-based) of the target b.
    case target(index: Int, value: Double)
    /// Entry `index` (1-based) of the weights w.
    case weights(index: Int, value: Double)
    /// Entry `index` (1-based) of the start point x0.
    case start(index: Int, value: Double)
    /// No single input entry: the iterate's own arithmetic overflowed (in words).
    case arithmetic(String)

    /// The input named: "A", "b", "w", "x0", or nil for `.arithmetic`.
    public var input: String? {
        switch self {
        case .matrix: return "A"
        case .target: return "b"
        case .weights: return "w"
        case .start: return "x0"
        case .arithmetic: return nil
        }
    }

    /// The entry in words, e.g. "A row 17, column 3 holds 1.0e155".
    public var entry: String {
        switch self {
        case .matrix(let r, let c, let v): return "A row \(r), column \(c) holds \(fmt(v))"
        case .target(let i, let v): return "b entry \(i) is \(fmt(v))"
        case .weights(let i, let v): return "w entry \(i) is \(fmt(v))"
        case .start(let i, let v): return "x0 entry \(i) is \(fmt(v))"
        case .arithmetic(let m): return m
        }
    }
}

/// The largest magnitude whose square is finite in Double (about 1.34e154).
let squareLimit = Double.greatestFiniteMagnitude.squareRoot()

/// `|v|`, with NaN counted as infinite (so that a NaN wins every "largest" search).
@inline(__always) func magnitude(_ v: Double) -> Double { v.isNaN ? .infinity : Swift.abs(v) }

/// Locating the input entry behind a non-finite quantity (only called after a failure).
enum NonFiniteDiagnosis {
    /// The largest product `a_ij x_j` of row `i` (0-based): (j, a_ij, x_j).
    static func dominantTerm(_ a: CSRMatrix, row i: Int, _ x: [Double]) -> (column: Int, a: Double, x: Double) {
        var best = (column: 0, a: 0.0, x: 0.0), largest = -1.0
        for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] {
            let j = Int(a.columnIndices[k])
            let m = magnitude(a.values[k]) * magnitude(x[j])
            if m > largest || (m.isNaN && !largest.isNaN) { largest = m; best = (j, a.values[k], x[j]) }
        }
        return best
    }

    /// Blames the larger factor of row i's largest product `a_ij x_j`: `.start` for x0 (only
    /// at the start point), `.matrix` for A, else `.arithmetic`. Returns the cause and the
    /// product in words.
    static func blameRow(_ a: CSRMatrix, row i: Int, _ x: [Double], atStart: Bool) -> (NonFiniteCause, String) {
        let first = a.distribution.rowOffset  // rows are named by their global number
        let t = dominantTerm(a, row: i, x)
        let xName = atStart ? "x0" : "x"
        let words = "its largest term is A row \(first + i + 1), column \(t.column + 1) = \(fmt(t.a)) times \(xName) entry \(t.column + 1) = \(fmt(t.x))"
        if magnitude(t.a) >= magnitude(t.x) { return (.matrix(row: first + i + 1, column: t.column + 1, value: t.a), words) }
        if atStart { return (.start(index: t.column + 1, value: t.x), words) }
        return (.arithmetic("the iterate's entry \(t.column + 1) grew to \(fmt(t.x))"), words)
    }

    /// Why the evaluation `e` at x (loss, alpha or <b,c>) is not finite.
    static func evaluation(_ problem: Problem, _ x: [Double], _ e: Evaluation, atStart: Bool) -> (NonFiniteCause, String) {
        acrossRanks(problem, evaluationOnRank(problem, x, e, atStart: atStart))
    }

    /// `evaluation` on this rank's rows, with the score that picks the rank whose words are
    /// kept (`acrossRanks`): the size of the quantity its search maximised.
    private static func evaluationOnRank(_ problem: Problem, _ x: [Double], _ e: Evaluation, atStart: Bool) -> (NonFiniteCause, String, Double) {
        let a = problem.matrix, kind = problem.function
        let ax = atStart ? "A x0" : "A x"
        let n = e.z.count
        let first = a.distribution.rowOffset
        // 1. u overflows (or z itself is not finite): the largest |z| (on the rank holding it).
        let iz = e.maxAbsZRow
        if !(e.maxAbsZ <= kind.overflowThreshold) {
            guard n > 0, e.maxAbsZRank == problem.communicator.rank else { return (.arithmetic("u(A x) overflows"), "", -1) }
            let (cause, term) = blameRow(a, row: iz, x, atStart: atStart)
            return (cause, "\(cause.entry): u(\(ax)) overflows at row \(first + iz + 1): |(\(ax))_\(first + iz + 1)| = \(fmt(e.maxAbsZ)), but \(kind.rawValue) overflows Double above \(fmt(kind.overflowThreshold)) (and the loss squares it); \(term). Scale A or x0 down.", .infinity)
        }
        guard n > 0 else { return (.arithmetic("L is not finite"), "", -.infinity) }
        // 2. The regularisation 0.5 ||w o z||^2: the row with the largest |w_i z_i|.
        let w = problem.weights
        var iw = -1, largestWZ = -1.0
        for i in 0..<n {
            let m = magnitude(w[i]) * magnitude(e.z[i])
            if m > largestWZ { largestWZ = m; iw = i }
        }
        if iw >= 0, !(largestWZ * largestWZ).isFinite || !e.regularizationLoss.isFinite {
            if magnitude(e.z[iw]) > magnitude(w[iw]) {
                let (cause, term) = blameRow(a, row: iw, x, atStart: atStart)
                return (cause, "\(cause.entry): ||diag(w) \(ax)||^2 overflows at row \(first + iw + 1): |(\(ax))_\(first + iw + 1)| = \(fmt(e.z[iw])); \(term)", largestWZ)
            }
            let cause = NonFiniteCause.weights(index: first + iw + 1, value: w[iw])
            return (cause, "\(cause.entry): ||diag(w) \(ax)||^2 overflows (w_\(first + iw + 1) (\(ax))_\(first + iw + 1) = \(fmt(w[iw] * e.z[iw])), squared)", largestWZ)
        }
        // 3. The fit term c = u - <u,1> b and <b,c>: the row where |c_i| or |b_i c_i| is
        //    largest; there u_i, or b_i against alpha = <u,1> (their product overflows).
        let b = problem.target
        var ic = 0, largestC = -1.0
        for i in 0..<n {
            let ci = e.cEntry(i)
            let m = Swift.max(magnitude(ci), magnitude(b[i]) * magnitude(ci))
            if m > largestC { largestC = m; ic = i }
        }
        let alphaB = magnitude(e.alpha) * magnitude(b[ic])
        if alphaB > magnitude(e.u[ic]), magnitude(b[ic]) >= magnitude(e.alpha) {
            let cause = NonFiniteCause.target(index: first + ic + 1, value: b[ic])
            return (cause, "\(cause.entry): u(\(ax))·<u,1> b overflows (<u,1> = \(fmt(e.alpha))), so the loss 0.5 ||u - <u,1> b||^2 is not finite", largestC)
        }
        var iu = ic
        if alphaB > magnitude(e.u[ic]) {
            // <u,1> is the large factor: the row of the largest u.
            for i in 0..<n where magnitude(e.u[i]) > magnitude(e.u[iu]) { iu = i }
        }
        let (cause, term) = blameRow(a, row: iu, x, atStart: atStart)
        return (cause, "\(cause.entry): u(\(ax)) is too large to square at row \(first + iu + 1): u = \(fmt(e.u[iu])) (<u,1> = \(fmt(e.alpha))) at |(\(ax))_\(first + iu + 1)| = \(fmt(e.z[iu])); \(term). Scale A or x0 down.", largestC)
    }

    /// Why a vector `y = A^T r` (the gradient, p or q) is not finite or its norm overflows,
    /// with `r` the row weights: the column where |y_j| is largest and, in it, the largest
    /// product `a_ij r_i`; `rowCause(i)` explains a too-large r_i.
    static func transposeProduct(_ problem: Problem, name: String, weightName: String, y: [Double], r: [Double],
                                 rowCause: (Int) -> (NonFiniteCause, String)) -> (NonFiniteCause, String, Double) {
        let a = problem.matrix
        let first = a.distribution.rowOffset
        guard a.rowCount > 0 else { return (.arithmetic("\(name) overflows"), "", -.infinity) }
        var jBest = 0
        for j in 0..<y.count where magnitude(y[j]) > magnitude(y[jBest]) { jBest = j }
        var best = (row: 0, a: 0.0), largest = -1.0
        for i in 0..<a.rowCount {
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] where Int(a.columnIndices[k]) == jBest {
                let m = magnitude(a.values[k]) * magnitude(r[i])
                if m > largest { largest = m; best = (i, a.values[k]) }
            }
        }
        let what = "\(name) = A^T \(weightName) overflows (entry \(jBest + 1) is \(fmt(y[jBest])); its square or the norm is beyond Double): the largest term is A row \(first + best.row + 1), column \(jBest + 1) = \(fmt(best.a)) times \(weightName)_\(first + best.row + 1) = \(fmt(r[best.row]))"
        if magnitude(best.a) >= magnitude(r[best.row]) {
            let cause = NonFiniteCause.matrix(row: first + best.row + 1, column: jBest + 1, value: best.a)
            return (cause, "\(cause.entry): \(what); entries of A above \(fmt(squareLimit)) cannot be squared in Double, and the Newton Hessian A^T D A squares them. Scale A's columns down.", largest)
        }
        let (cause, why) = rowCause(best.row)
        return (cause, "\(cause.entry): \(what); \(why)", largest)
    }

    /// Why the gradient (or p = A^T v, q = A^T (v o b)) at a finite evaluation is not finite.
    static func gradient(_ problem: Problem, _ x: [Double], _ e: Evaluation, _ objective: Objective, _ pieces: GradientPieces, atStart: Bool) -> (NonFiniteCause, String) {
        let b = problem.target
        let name: String, weightName: String, y: [Double], r: [Double]
        if !norm2(pieces.gradient).isFinite { name = "the gradient g"; weightName = "r"; y = pieces.gradient; r = objective.gradientWeights(e) }
        else if !norm2(pieces.p).isFinite { name = "the Hessian's rank-2 vector p"; weightName = "u'(Ax)"; y = pieces.p; r = e.v }
        else { name = "the Hessian's rank-2 vector q"; weightName = "(u'(Ax) o b)"; y = pieces.q; r = zip(e.v, b).map { $0 * $1 } }
        let isGradient = weightName == "r", isP = weightName == "u'(Ax)"
        let first = problem.matrix.distribution.rowOffset
        return acrossRanks(problem, transposeProduct(problem, name: name, weightName: weightName, y: y, r: r) { i in
            // r_i = v_i (c_i - <b,c>) + w_i^2 z_i (for p and q: v_i, v_i b_i).
            let w = problem.weights
            if isGradient, magnitude(w[i] * w[i] * e.z[i]) >= magnitude(e.v[i] * (e.cEntry(i) - e.bDotC)), magnitude(w[i]) >= magnitude(e.z[i]) {
                return (.weights(index: first + i + 1, value: w[i]), "r_\(first + i + 1) contains w_\(first + i + 1)^2 (A x)_\(first + i + 1)")
            }
            if !isP {
                var ib = 0
                for k in 0..<b.count where magnitude(b[k]) > magnitude(b[ib]) { ib = k }
                if magnitude(b[ib]) >= magnitude(e.u[i]) {
                    return (.target(index: first + ib + 1, value: b[ib]), "r contains <u,1> b and <b,c>")
                }
            }
            let (cause, term) = blameRow(problem.matrix, row: i, x, atStart: atStart)
            return (cause, "r_\(first + i + 1) contains u'((A x)_\(first + i + 1)) = \(fmt(e.v[i])); at row \(first + i + 1) \(term)")
        })
    }

    /// Why `A^T diag(d) A` (a Newton matrix, full or sampled) is not finite: a non-finite
    /// weight d_i, or an entry of A whose weighted square overflows.
    static func hessian(_ problem: Problem, _ x: [Double], _ e: Evaluation, diagonal d: [Double], atStart: Bool) -> (NonFiniteCause, String) {
        acrossRanks(problem, hessianOnRank(problem, x, e, diagonal: d, atStart: atStart))
    }

    /// `hessian` on this rank's rows, with its score for `acrossRanks`.
    private static func hessianOnRank(_ problem: Problem, _ x: [Double], _ e: Evaluation, diagonal d: [Double], atStart: Bool) -> (NonFiniteCause, String, Double) {
        let a = problem.matrix
        let first = a.distribution.rowOffset
        guard a.rowCount > 0 else { return (.arithmetic("the Newton Hessian overflows"), "", -.infinity) }
        if let i = d.firstIndex(where: { !$0.isFinite }) {
            let w = problem.weights
            if !(w[i] * w[i]).isFinite {
                let cause = NonFiniteCause.weights(index: first + i + 1, value: w[i])
                return (cause, "\(cause.entry): the Hessian weight D_\(first + i + 1) contains w_\(first + i + 1)^2, which overflows", .infinity)
            }
            let (cause, term) = blameRow(a, row: i, x, atStart: atStart)
            return (cause, "\(cause.entry): the Hessian weight D_\(first + i + 1) = u'^2 + c u - <c,b> u + w^2 at row \(first + i + 1) overflows (u = \(fmt(e.u[i]))); \(term). Scale A or x0 down.", .infinity)
        }
        var best = (row: 0, k: 0), largest = -1.0
        for i in 0..<a.rowCount {
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] {
                let m = magnitude(d[i]) * magnitude(a.values[k]) * magnitude(a.values[k])
                if m > largest { largest = m; best = (i, k) }
            }
        }
        let value = a.values[best.k], column = Int(a.columnIndices[best.k]) + 1
        if magnitude(value) >= magnitude(d[best.row]) || magnitude(value) > squareLimit {
            let cause = NonFiniteCause.matrix(row: first + best.row + 1, column: column, value: value)
            return (cause, "\(cause.entry): the Newton Hessian A^T D A overflows (D_\(first + best.row + 1) a^2 = \(fmt(d[best.row])) x \(fmt(value))^2); entries of A above \(fmt(squareLimit)) cannot be squared in Double. Scale A's columns down.", largest)
        }
        let (cause, term) = blameRow(a, row: best.row, x, atStart: atStart)
        return (cause, "\(cause.entry): the Newton Hessian A^T D A overflows at row \(first + best.row + 1) (D = \(fmt(d[best.row]))); \(term)", largest)
    }

    /// The entry of A behind an overflowing `A^T A` (a column's sum of squares not finite),
    /// or nil when every column's squared norm is finite. One pass over A.
    static func normalMatrix(_ a: CSRMatrix) -> (NonFiniteCause, String)? {
        let first = a.distribution.rowOffset
        var squares = [Double](repeating: 0, count: a.columnCount)
        for k in 0..<a.nonzeroCount { squares[Int(a.columnIndices[k])] += a.values[k] * a.values[k] }
        guard let j = squares.firstIndex(where: { !$0.isFinite }) else { return nil }
        var best = (row: 0, value: 0.0)
        for i in 0..<a.rowCount {
            for k in a.rowOffsets[i]..<a.rowOffsets[i + 1] where Int(a.columnIndices[k]) == j && magnitude(a.values[k]) > magnitude(best.value) {
                best = (i, a.values[k])
            }
        }
        let cause = NonFiniteCause.matrix(row: first + best.row + 1, column: j + 1, value: best.value)
        return (cause, "\(cause.entry): the squared norm of A's column \(j + 1) overflows Double, so A^T A (the least-squares start) and the Newton Hessian A^T D A cannot be formed; entries of A above \(fmt(squareLimit)) cannot be squared. Scale A's columns down.")
    }

    /// The diagnosis of the rank with the highest score (a distributed run: each rank searched
    /// its own rows; the lowest rank wins a tie), the same on every rank (collective); on one
    /// process, `local` itself.
    static func acrossRanks(_ problem: Problem, _ local: (NonFiniteCause, String, Double)) -> (NonFiniteCause, String) {
        let comm = problem.communicator
        guard comm.isDistributed else { return (local.0, local.1) }
        let winner = comm.argMaximum(local.2).rank
        var bytes = Array(encode(local.0, local.1).utf8)
        comm.broadcast(bytes: &bytes, from: winner)
        return decode(String(decoding: bytes, as: UTF8.self)) ?? (local.0, local.1)
    }

    /// A cause and its words as one line of tab-separated fields (values as bit patterns).
    private static func encode(_ cause: NonFiniteCause, _ words: String) -> String {
        let fields: [String]
        switch cause {
        case .matrix(let r, let c, let v): fields = ["A", "\(r)", "\(c)", "\(v.bitPattern)"]
        case .target(let i, let v): fields = ["b", "\(i)", "\(v.bitPattern)"]
        case .weights(let i, let v): fields = ["w", "\(i)", "\(v.bitPattern)"]
        case .start(let i, let v): fields = ["x0", "\(i)", "\(v.bitPattern)"]
        case .arithmetic(let m): fields = ["-", m]
        }
        return (fields + [words]).joined(separator: "\t")
    }

    /// The inverse of `encode` (the words are the last field and may hold tabs).
    private static func decode(_ text: String) -> (NonFiniteCause, String)? {
        let tag = text.prefix { $0 != "\t" }
        let count = ["A": 5, "b": 4, "w": 4, "x0": 4, "-": 3][String(tag)] ?? 0
        guard count > 0 else { return nil }
        let f = text.split(separator: "\t", maxSplits: count - 1, omittingEmptySubsequences: false).map(String.init)
        guard f.count == count else { return nil }
        func value(_ s: String) -> Double? { UInt64(s).map(Double.init(bitPattern:)) }
        switch tag {
        case "A": if let r = Int(f[1]), let c = Int(f[2]), let v = value(f[3]) { return (.matrix(row: r, column: c, value: v), f[4]) }
        case "b": if let i = Int(f[1]), let v = value(f[2]) { return (.target(index: i, value: v), f[3]) }
        case "w": if let i = Int(f[1]), let v = value(f[2]) { return (.weights(index: i, value: v), f[3]) }
        case "x0": if let i = Int(f[1]), let v = value(f[2]) { return (.start(index: i, value: v), f[3]) }
        default: return (.arithmetic(f[1]), f[2])
        }
        return nil
    }

}
