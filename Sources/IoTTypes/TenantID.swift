/// A tenant is an AWS account: a 12-digit account id that comes first in every key of every store, so tenants
/// are isolated by construction (ARCHITECTURE §4). Until domain configurations exist (TLS issue), every
/// connection belongs to ``TenantID/default``.
public struct TenantID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let accountID: String
    public init(_ accountID: String) { self.accountID = accountID }
    public static let `default` = TenantID("000000000000")
    public var description: String { accountID }
    /// Whether `text` is an AWS account id: exactly 12 ASCII digits. The one home of that rule, for every parser
    /// of account ids (operator routes, ARNs) and for `createTenant`.
    public static func isAccountID<S: StringProtocol>(_ text: S) -> Bool {
        text.utf8.count == 12 && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
    public static func < (a: Self, b: Self) -> Bool { a.accountID < b.accountID }
}
