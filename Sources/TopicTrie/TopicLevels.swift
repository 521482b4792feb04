/// Walks the `/`-separated levels of a topic name or filter without allocating: each level is a `Substring` of the
/// original string. `""` has one empty level, `a/` has two (`a` and an empty one), `a//b` has three.
@usableFromInline
struct TopicLevels: IteratorProtocol {
    @usableFromInline let string: String
    /// Start of the next level; nil once the last level has been returned.
    @usableFromInline var position: String.Index?

    @inlinable init(_ string: String) {
        self.string = string
        self.position = string.startIndex
    }

    /// True once the last level has been returned: the level just returned was the last one.
    @inlinable var isAtEnd: Bool { self.position == nil }

    @inlinable mutating func next() -> Substring? {
        guard let start = self.position else { return nil }
        let (level, next) = Self.level(of: self.string, at: start)
        self.position = next
        return level
    }

    /// The level of `string` starting at `start`, and the start of the level after it (nil when it is the last).
    @inlinable static func level(of string: String, at start: String.Index) -> (Substring, next: String.Index?) {
        let utf8 = string.utf8
        guard let slash = utf8[start...].firstIndex(of: .slash) else { return (string[start...], nil) }
        return (string[start..<slash], utf8.index(after: slash))
    }
}

/// A trie edge: one level, compared and hashed by its UTF-8 bytes. `String`'s own `==` and hashing use Unicode
/// canonical equivalence, which would merge topics the server must keep apart ([MQTT-4.7.3-4]).
@usableFromInline
struct LevelKey: Hashable, Sendable {
    @usableFromInline let text: Substring

    /// A key that borrows `text`, for look-ups.
    @inlinable init(_ text: Substring) { self.text = text }

    /// A key that owns a copy of its bytes, for storing: it does not keep the whole inserted string alive.
    @inlinable static func owned(_ text: Substring) -> LevelKey { LevelKey(Substring(String(text))) }

    /// The level starts with `$`, so wildcards in the first level of a filter skip it ([MQTT-4.7.2-1]).
    @inlinable var isReserved: Bool { self.text.utf8.first == .dollar }

    @inlinable static func == (lhs: LevelKey, rhs: LevelKey) -> Bool {
        let left = lhs.text.utf8
        let right = rhs.text.utf8
        guard left.count == right.count else { return false }
        let fast = left.withContiguousStorageIfAvailable { l in
            right.withContiguousStorageIfAvailable { r in l.elementsEqual(r) }
        }
        return (fast ?? nil) ?? left.elementsEqual(right)
    }

    @inlinable func hash(into hasher: inout Hasher) {
        let utf8 = self.text.utf8
        let hashed: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            for byte in utf8 { hasher.combine(byte) }
        }
        hasher.combine(UInt8(0xFF))  // terminator: 0xFF never occurs in UTF-8, so "ab"+"" and "a"+"b" differ
    }
}
