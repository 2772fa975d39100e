// The storage of a CSR array: a Swift array the matrix owns, or a caller's memory the matrix
// borrows without a copy (a SciPy matrix handed through the C ABI: issue 16).

/// Read-only contiguous storage of one CSR array (`CSRMatrix.rowOffsets`, `columnIndices`,
/// `values`): either a Swift array, or memory borrowed from a caller, who guarantees that it
/// stays allocated and unchanged while any matrix using it exists (`init(borrowing:owner:)`).
/// A random-access collection of its elements; kernels read it through
/// `withUnsafeBufferPointer`, which costs nothing in either case.
public struct CSRBuffer<Element>: RandomAccessCollection, @unchecked Sendable {
    @usableFromInline enum Storage {
        case owned([Element])
        case borrowed(UnsafeBufferPointer<Element>, AnyObject?)
    }

    @usableFromInline let storage: Storage

    /// The elements of `array` (no copy: the buffer holds the array).
    @inlinable public init(_ array: [Element]) { storage = .owned(array) }

    /// A caller's memory, without a copy. The caller guarantees that `buffer` stays allocated
    /// and is not written while any copy of this value exists; `owner` (kept alive with the
    /// buffer) may be the object that owns the memory. Unchecked: see `CSRMatrix`'s checking
    /// initialiser for the matrix invariants.
    public init(borrowing buffer: UnsafeBufferPointer<Element>, owner: AnyObject? = nil) { storage = .borrowed(buffer, owner) }

    /// True when the elements are a caller's memory (`init(borrowing:owner:)`).
    public var isBorrowed: Bool {
        if case .borrowed = storage { return true }
        return false
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int {
        switch storage {
        case .owned(let a): return a.count
        case .borrowed(let b, _): return b.count
        }
    }

    @inlinable public subscript(position: Int) -> Element {
        switch storage {
        case .owned(let a): return a[position]
        case .borrowed(let b, _):
            precondition(position >= 0 && position < b.count, "CSRBuffer: index out of range")
            return b[position]
        }
    }

    /// Calls `body` with the elements' contiguous storage.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let a): return try a.withUnsafeBufferPointer(body)
        case .borrowed(let b, _): return try body(b)
        }
    }

    /// Calls `body` with the elements' bytes.
    @inlinable public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// The elements as a Swift array (a copy when borrowed).
    public var array: [Element] {
        switch storage {
        case .owned(let a): return a
        case .borrowed(let b, _): return Array(b)
        }
    }
}

extension CSRBuffer: Equatable where Element: Equatable {
    public static func == (lhs: CSRBuffer, rhs: CSRBuffer) -> Bool {
        lhs.count == rhs.count && lhs.withUnsafeBufferPointer { l in rhs.withUnsafeBufferPointer { r in l.elementsEqual(r) } }
    }
}

extension CSRBuffer where Element: Equatable {
    /// The same elements as `rhs`, in order (source compatibility with the arrays these were).
    public static func == (lhs: CSRBuffer, rhs: [Element]) -> Bool {
        lhs.withUnsafeBufferPointer { l in rhs.withUnsafeBufferPointer { r in l.elementsEqual(r) } }
    }
    /// The same elements as `lhs`, in order.
    public static func == (lhs: [Element], rhs: CSRBuffer) -> Bool { rhs == lhs }
    /// Not `==`.
    public static func != (lhs: CSRBuffer, rhs: [Element]) -> Bool { !(lhs == rhs) }
    /// Not `==`.
    public static func != (lhs: [Element], rhs: CSRBuffer) -> Bool { !(rhs == lhs) }
}

extension CSRBuffer: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) { self.init(elements) }
}
