import IoTTypes
import TopicTrie

// The subscription table's wire formats (carried as opaque bytes by the membership layer). Big-endian integers;
// the first byte says what the message is, so a later format can take a new value and old nodes reject it cleanly.
//
//   delta (a broadcast):   u8 kind = 1 · u64 owner · u64 epoch · u64 seq · u8 operation (1 add, 2 remove) · row
//   state (push/pull):     u8 kind = 2 · u32 owner count · owner blocks, strictly ascending by owner id
//     owner block:         u64 owner · u64 epoch · u64 seq · u8 has rows (0 | 1) · [rows of the owner]
//     rows of an owner:    u32 tenant count · tenant groups, strictly ascending by tenant bytes
//     tenant group:        u8 tenant length · tenant bytes · u32 row count (≥ 1) · filters, strictly ascending by
//                          bytes, each u16 length · bytes
//   row (in a delta):      u8 tenant length · tenant bytes · u16 filter length · filter bytes
//
// Decoding is strict: every field is checked (epoch ≥ 1, a delta's seq ≥ 1, tenants 1–255 bytes of UTF-8 without
// NUL, filters valid MQTT filters of valid UTF-8 under the MQTT limits, `$share/{group}/…` included), orders are
// strict (so no repeats, and one content has exactly one encoding), and no byte may follow the message. A malformed
// input is a `RouteCodecError`, never a crash and never a partial apply.

/// Why a delta or push/pull state was rejected.
public enum RouteCodecError: Error, Hashable, Sendable {
    /// The input ended inside a field.
    case truncated
    /// Bytes left over after a complete message; carries how many.
    case trailingBytes(Int)
    /// The first byte is not a message kind this version knows (or not the kind expected here).
    case unknownKind(UInt8)
    /// A delta's operation byte is neither add (1) nor remove (2).
    case unknownOperation(UInt8)
    /// An epoch of 0, or a delta with seq 0.
    case invalidVersion
    /// The has-rows flag of an owner block is neither 0 nor 1.
    case invalidFlag(UInt8)
    /// A tenant that is empty, longer than 255 bytes, not UTF-8, or contains NUL.
    case invalidTenant
    /// A filter that is empty, longer than 65,535 bytes, not UTF-8, or not a valid MQTT topic filter.
    case invalidFilter
    /// Owners, tenants or filters out of order or repeated.
    case notAscending
    /// A tenant group with no rows.
    case emptyGroup
}

/// One owner's entry in a push/pull state: its version and, when present, all its rows at that version.
/// `rows == nil` is a digest-only entry ("I know this owner is at least at `version`").
struct RouteStateBlock: Sendable, Hashable {
    var owner: GossipNodeID
    var version: RouteVersion
    var rows: [RouteRow]?
}

enum RouteCodec {
    static let deltaKind: UInt8 = 1
    static let stateKind: UInt8 = 2

    // MARK: Delta

    static func encode(_ delta: RouteDelta) -> [UInt8] {
        var out = RouteBytesWriter()
        out.u8(Self.deltaKind)
        out.u64(delta.owner)
        out.u64(delta.version.epoch)
        out.u64(delta.version.seq)
        out.u8(delta.operation.rawValue)
        out.tenant(delta.row.tenant)
        out.filter(delta.row.filter)
        return out.bytes
    }

    static func decodeDelta(_ bytes: [UInt8]) throws(RouteCodecError) -> RouteDelta {
        var input = RouteBytesReader(bytes)
        let kind = try input.u8()
        guard kind == Self.deltaKind else { throw .unknownKind(kind) }
        let owner = try input.u64()
        let version = RouteVersion(epoch: try input.u64(), seq: try input.u64())
        guard version.epoch >= 1, version.seq >= 1 else { throw .invalidVersion }
        let op = try input.u8()
        guard let operation = RouteDelta.Operation(rawValue: op) else { throw .unknownOperation(op) }
        let tenant = try input.tenant()
        let filter = try input.filter()
        try input.end()
        return RouteDelta(owner: owner, version: version, operation: operation, row: RouteRow(tenant: tenant, filter: filter))
    }

    // MARK: State

    /// Encodes blocks; the caller passes them ascending by owner with each block's rows sorted (`RouteRow.<`).
    static func encode(state blocks: [RouteStateBlock]) -> [UInt8] {
        var out = RouteBytesWriter()
        out.u8(Self.stateKind)
        out.u32(UInt32(blocks.count))
        for block in blocks {
            out.u64(block.owner)
            out.u64(block.version.epoch)
            out.u64(block.version.seq)
            guard let rows = block.rows else {
                out.u8(0)
                continue
            }
            out.u8(1)
            // Groups of consecutive rows with the same tenant (rows are sorted, so each tenant is one group).
            var groups: [(tenant: TenantID, filters: ArraySlice<RouteRow>)] = []
            var start = rows.startIndex
            while start < rows.endIndex {
                var end = start + 1
                while end < rows.endIndex && rows[end].tenant.accountID.utf8.elementsEqual(rows[start].tenant.accountID.utf8) {
                    end += 1
                }
                groups.append((rows[start].tenant, rows[start..<end]))
                start = end
            }
            out.u32(UInt32(groups.count))
            for group in groups {
                out.tenant(group.tenant)
                out.u32(UInt32(group.filters.count))
                for row in group.filters { out.filter(row.filter) }
            }
        }
        return out.bytes
    }

    static func decodeState(_ bytes: [UInt8]) throws(RouteCodecError) -> [RouteStateBlock] {
        var input = RouteBytesReader(bytes)
        let kind = try input.u8()
        guard kind == Self.stateKind else { throw .unknownKind(kind) }
        let ownerCount = try input.u32()
        var blocks: [RouteStateBlock] = []
        var previousOwner: GossipNodeID?
        for _ in 0..<ownerCount {
            let owner = try input.u64()
            if let previous = previousOwner, owner <= previous { throw .notAscending }
            previousOwner = owner
            let version = RouteVersion(epoch: try input.u64(), seq: try input.u64())
            guard version.epoch >= 1 else { throw .invalidVersion }
            let flag = try input.u8()
            switch flag {
            case 0:
                blocks.append(RouteStateBlock(owner: owner, version: version, rows: nil))
            case 1:
                var rows: [RouteRow] = []
                let groupCount = try input.u32()
                var previousTenant: TenantID?
                for _ in 0..<groupCount {
                    let tenant = try input.tenant()
                    if let previous = previousTenant, routeCompareBytes(previous.accountID.utf8, tenant.accountID.utf8) >= 0 {
                        throw .notAscending
                    }
                    previousTenant = tenant
                    let rowCount = try input.u32()
                    guard rowCount >= 1 else { throw .emptyGroup }
                    var previousFilter: String?
                    for _ in 0..<rowCount {
                        let filter = try input.filter()
                        if let previous = previousFilter, routeCompareBytes(previous.utf8, filter.utf8) >= 0 {
                            throw .notAscending
                        }
                        previousFilter = filter
                        rows.append(RouteRow(tenant: tenant, filter: filter))
                    }
                }
                blocks.append(RouteStateBlock(owner: owner, version: version, rows: rows))
            default:
                throw .invalidFlag(flag)
            }
        }
        try input.end()
        return blocks
    }
}

// MARK: - Bytes

struct RouteBytesWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { self.bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        self.bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        self.bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { self.bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { self.bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Tenants are at most 255 bytes (`SubscriptionTable` refuses longer ones before they become rows).
    mutating func tenant(_ tenant: TenantID) {
        let utf8 = tenant.accountID.utf8
        self.u8(UInt8(truncatingIfNeeded: utf8.count))
        self.bytes.append(contentsOf: utf8)
    }

    /// Filters are at most 65,535 bytes (the MQTT limit; `SubscriptionTable` refuses longer ones).
    mutating func filter(_ filter: String) {
        let utf8 = filter.utf8
        self.u16(UInt16(truncatingIfNeeded: utf8.count))
        self.bytes.append(contentsOf: utf8)
    }
}

struct RouteBytesReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) throws(RouteCodecError) -> ArraySlice<UInt8> {
        guard self.bytes.count - self.index >= count else { throw .truncated }
        defer { self.index += count }
        return self.bytes[self.index..<self.index + count]
    }

    mutating func u8() throws(RouteCodecError) -> UInt8 { try self.take(1).first! }

    mutating func u16() throws(RouteCodecError) -> UInt16 {
        try self.take(2).reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func u32() throws(RouteCodecError) -> UInt32 {
        try self.take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws(RouteCodecError) -> UInt64 {
        try self.take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func tenant() throws(RouteCodecError) -> TenantID {
        let length = Int(try self.u8())
        guard length >= 1 else { throw .invalidTenant }
        let raw = try self.take(length)
        guard !raw.contains(0), let text = String(validating: raw, as: UTF8.self) else { throw .invalidTenant }
        return TenantID(text)
    }

    mutating func filter() throws(RouteCodecError) -> String {
        let length = Int(try self.u16())
        let raw = try self.take(length)
        guard let text = String(validating: raw, as: UTF8.self), SubscriptionTable.isValidFilter(text) else {
            throw .invalidFilter
        }
        return text
    }

    func end() throws(RouteCodecError) {
        guard self.index == self.bytes.count else { throw .trailingBytes(self.bytes.count - self.index) }
    }
}
