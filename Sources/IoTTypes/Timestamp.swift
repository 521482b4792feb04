/// A point in time as nanoseconds since an arbitrary epoch (monotonic in the broker; wall clock where stated).
/// Pure code never reads a clock: the shell passes `now`.
public struct Timestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func seconds(_ s: Int64) -> Timestamp { Timestamp(nanoseconds: s * 1_000_000_000) }
    public static func milliseconds(_ ms: Int64) -> Timestamp { Timestamp(nanoseconds: ms * 1_000_000) }
    public static let zero = Timestamp(nanoseconds: 0)

    public func adding(seconds: Int64) -> Timestamp { Timestamp(nanoseconds: nanoseconds &+ seconds &* 1_000_000_000) }
    public func adding(nanoseconds n: Int64) -> Timestamp { Timestamp(nanoseconds: nanoseconds &+ n) }
    /// Whole seconds from `self` until `later` (floored, never negative).
    public func secondsUntil(_ later: Timestamp) -> Int64 { max(0, (later.nanoseconds - nanoseconds) / 1_000_000_000) }
    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}
