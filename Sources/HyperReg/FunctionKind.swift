#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The function u of the problem: exp, cosh or sinh, applied entrywise to z = A x.
public enum FunctionKind: String, CaseIterable, Sendable, Codable {
    /// u = exp(z), u' = exp(z).
    case exp
    /// u = cosh(z), u' = sinh(z).
    case cosh
    /// u = sinh(z), u' = cosh(z).
    case sinh

    /// u(z).
    @inlinable public func value(_ z: Double) -> Double {
        switch self {
        case .exp: return Glibc.exp(z)
        case .cosh: return Glibc.cosh(z)
        case .sinh: return Glibc.sinh(z)
        }
    }

    /// (u(z), u'(z)) together: one exp call for exp (u' = u), the library's cosh and sinh
    /// otherwise (bit-identical to `value` and `derivative`).
    @inlinable public func valueAndDerivative(_ z: Double) -> (Double, Double) {
        switch self {
        case .exp:
            let e = Glibc.exp(z)
            return (e, e)
        case .cosh: return (Glibc.cosh(z), Glibc.sinh(z))
        case .sinh: return (Glibc.sinh(z), Glibc.cosh(z))
        }
    }

    /// False for exp, whose u' is u itself: an evaluation then keeps one array for both.
    @inlinable public var hasSeparateDerivative: Bool { self != .exp }

    /// u'(z) (note u'' = u for all three).
    @inlinable public func derivative(_ z: Double) -> Double {
        switch self {
        case .exp: return Glibc.exp(z)
        case .cosh: return Glibc.sinh(z)
        case .sinh: return Glibc.cosh(z)
        }
    }

    /// The largest |z| for which u(z) is finite in Double arithmetic (about 709.78 for exp,
    /// 710.48 for cosh and sinh).
    public var overflowThreshold: Double {
        switch self {
        case .exp: return 709.782712893384
        case .cosh, .sinh: return 710.4758600739439
        }
    }
}
