/// Why bytes from the network were refused. Every decode failure is one of these (counted by the membership,
/// never a crash).
public enum GossipCodecError: Error, Sendable, Equatable {
    /// The input ended inside a field.
    case truncated
    /// The first byte is not a wire version this build reads.
    case unsupportedVersion(UInt8)
    case unknownMessageType(UInt8)
    case unknownItemTag(UInt8)
    case unknownMemberState(UInt8)
    /// A host is empty, or not UTF-8.
    case invalidHost
    /// A count or length field promises more than the input holds.
    case lengthOutOfRange
    /// Bytes left over after a push/pull payload.
    case trailingBytes
}

/// The wire format (all integers big-endian):
///
/// ```
/// datagram  := version(1)=1  type(1)  body  item*            (items run to the end of the datagram)
///   ping     type 1: seq u32, sender u64, target u64
///   ping-req type 2: seq u32, sender u64, target u64, target-address
///   ack      type 3: seq u32, sender u64
///   nack     type 4: seq u32, sender u64
///   gossip   type 5: sender u64                               (piggyback only)
/// item      := tag(1) …
///   alive    1: node u64, incarnation u64, address
///   suspect  2: node u64, incarnation u64, from u64
///   dead     3: node u64, incarnation u64, from u64
///   left     4: node u64, incarnation u64
///   app      5: origin u64, epoch u64, seq u64, has-key u8, [key-len u16, key], len u16, bytes
/// address   := host-len u8 (≥ 1), host UTF-8, port u16
/// push/pull := version(1)=1  type(1) (16 request, 17 reply)  sender u64, sender-address, join u8,
///              count u32, (node u64, incarnation u64, state u8, address)*count, app-len u32, app bytes
/// ```
enum WireMessage: Equatable, Sendable {
    case ping(seq: UInt32, sender: GossipNodeID, target: GossipNodeID)
    case pingReq(seq: UInt32, sender: GossipNodeID, target: GossipNodeID, targetAddress: GossipAddress)
    case ack(seq: UInt32, sender: GossipNodeID)
    case nack(seq: UInt32, sender: GossipNodeID)
    case gossip(sender: GossipNodeID)
}

enum WireItem: Equatable, Sendable {
    case alive(node: GossipNodeID, incarnation: UInt64, address: GossipAddress)
    case suspect(node: GossipNodeID, incarnation: UInt64, from: GossipNodeID)
    case dead(node: GossipNodeID, incarnation: UInt64, from: GossipNodeID)
    case left(node: GossipNodeID, incarnation: UInt64)
    case app(origin: GossipNodeID, epoch: UInt64, seq: UInt64, key: [UInt8]?, bytes: [UInt8])
}

struct WireDatagram: Equatable, Sendable {
    var message: WireMessage
    var items: [WireItem]
}

struct WireMemberDigest: Equatable, Sendable {
    var node: GossipNodeID
    var incarnation: UInt64
    var state: GossipMemberState
    var address: GossipAddress
}

struct WirePushPull: Equatable, Sendable {
    var isReply: Bool
    var sender: GossipNodeID
    var senderAddress: GossipAddress
    var join: Bool
    var members: [WireMemberDigest]
    var appState: [UInt8]
}

enum GossipWire {
    static let version: UInt8 = 1

    // MARK: encoding

    static func encode(_ message: WireMessage) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version)
        switch message {
        case .ping(let seq, let sender, let target):
            w.u8(1); w.u32(seq); w.u64(sender); w.u64(target)
        case .pingReq(let seq, let sender, let target, let address):
            w.u8(2); w.u32(seq); w.u64(sender); w.u64(target); w.address(address)
        case .ack(let seq, let sender):
            w.u8(3); w.u32(seq); w.u64(sender)
        case .nack(let seq, let sender):
            w.u8(4); w.u32(seq); w.u64(sender)
        case .gossip(let sender):
            w.u8(5); w.u64(sender)
        }
        return w.bytes
    }

    static func encode(_ item: WireItem) -> [UInt8] {
        var w = ByteWriter()
        switch item {
        case .alive(let node, let inc, let address):
            w.u8(1); w.u64(node); w.u64(inc); w.address(address)
        case .suspect(let node, let inc, let from):
            w.u8(2); w.u64(node); w.u64(inc); w.u64(from)
        case .dead(let node, let inc, let from):
            w.u8(3); w.u64(node); w.u64(inc); w.u64(from)
        case .left(let node, let inc):
            w.u8(4); w.u64(node); w.u64(inc)
        case .app(let origin, let epoch, let seq, let key, let bytes):
            w.u8(5); w.u64(origin); w.u64(epoch); w.u64(seq)
            if let key {
                w.u8(1); w.u16(UInt16(clamping: key.count)); w.raw(key.prefix(Int(UInt16.max)))
            } else {
                w.u8(0)
            }
            w.u16(UInt16(clamping: bytes.count)); w.raw(bytes.prefix(Int(UInt16.max)))
        }
        return w.bytes
    }

    static func encode(_ datagram: WireDatagram) -> [UInt8] {
        var bytes = encode(datagram.message)
        for item in datagram.items { bytes += encode(item) }
        return bytes
    }

    static func encode(_ p: WirePushPull) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version); w.u8(p.isReply ? 17 : 16); w.u64(p.sender); w.address(p.senderAddress); w.u8(p.join ? 1 : 0)
        w.u32(UInt32(p.members.count))
        for m in p.members {
            w.u64(m.node); w.u64(m.incarnation); w.u8(m.state.rawValue); w.address(m.address)
        }
        w.u32(UInt32(p.appState.count)); w.raw(p.appState)
        return w.bytes
    }

    // MARK: decoding

    static func decodeDatagram(_ bytes: [UInt8]) -> Result<WireDatagram, GossipCodecError> {
        var r = ByteReader(bytes)
        do throws(GossipCodecError) {
            let message = try readMessage(&r)
            var items: [WireItem] = []
            while !r.atEnd { items.append(try readItem(&r)) }
            return .success(WireDatagram(message: message, items: items))
        } catch {
            return .failure(error)
        }
    }

    static func decodePushPull(_ bytes: [UInt8]) -> Result<WirePushPull, GossipCodecError> {
        var r = ByteReader(bytes)
        do throws(GossipCodecError) {
            let v = try r.u8()
            guard v == version else { throw .unsupportedVersion(v) }
            let type = try r.u8()
            guard type == 16 || type == 17 else { throw .unknownMessageType(type) }
            let sender = try r.u64()
            let senderAddress = try r.address()
            let join = try r.u8() != 0
            let count = Int(try r.u32())
            // Smallest digest: 8 + 8 + 1 + (1 + 1) + 2 bytes.
            guard count <= r.remaining / 21 else { throw .lengthOutOfRange }
            var members: [WireMemberDigest] = []
            members.reserveCapacity(count)
            for _ in 0..<count {
                let node = try r.u64()
                let inc = try r.u64()
                let rawState = try r.u8()
                guard let state = GossipMemberState(rawValue: rawState) else { throw .unknownMemberState(rawState) }
                members.append(WireMemberDigest(node: node, incarnation: inc, state: state, address: try r.address()))
            }
            let appLength = Int(try r.u32())
            let app = try r.raw(appLength)
            guard r.atEnd else { throw .trailingBytes }
            return .success(
                WirePushPull(
                    isReply: type == 17, sender: sender, senderAddress: senderAddress, join: join, members: members,
                    appState: app))
        } catch {
            return .failure(error)
        }
    }

    private static func readMessage(_ r: inout ByteReader) throws(GossipCodecError) -> WireMessage {
        let v = try r.u8()
        guard v == version else { throw .unsupportedVersion(v) }
        let type = try r.u8()
        switch type {
        case 1: return .ping(seq: try r.u32(), sender: try r.u64(), target: try r.u64())
        case 2: return .pingReq(seq: try r.u32(), sender: try r.u64(), target: try r.u64(), targetAddress: try r.address())
        case 3: return .ack(seq: try r.u32(), sender: try r.u64())
        case 4: return .nack(seq: try r.u32(), sender: try r.u64())
        case 5: return .gossip(sender: try r.u64())
        default: throw .unknownMessageType(type)
        }
    }

    private static func readItem(_ r: inout ByteReader) throws(GossipCodecError) -> WireItem {
        let tag = try r.u8()
        switch tag {
        case 1: return .alive(node: try r.u64(), incarnation: try r.u64(), address: try r.address())
        case 2: return .suspect(node: try r.u64(), incarnation: try r.u64(), from: try r.u64())
        case 3: return .dead(node: try r.u64(), incarnation: try r.u64(), from: try r.u64())
        case 4: return .left(node: try r.u64(), incarnation: try r.u64())
        case 5:
            let origin = try r.u64()
            let epoch = try r.u64()
            let seq = try r.u64()
            let hasKey = try r.u8()
            var key: [UInt8]?
            switch hasKey {
            case 0: key = nil
            case 1: key = try r.raw(Int(try r.u16()))
            default: throw .lengthOutOfRange
            }
            let bytes = try r.raw(Int(try r.u16()))
            return .app(origin: origin, epoch: epoch, seq: seq, key: key, bytes: bytes)
        default: throw .unknownItemTag(tag)
        }
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(truncatingIfNeeded: v)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    mutating func raw<C: Collection<UInt8>>(_ b: C) { bytes.append(contentsOf: b) }
    /// Hosts longer than 255 bytes are cut (a configuration error the shell rejects before it gets here).
    mutating func address(_ a: GossipAddress) {
        let host = Array(a.host.utf8.prefix(255))
        u8(UInt8(host.count)); raw(host); u16(a.port)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { index >= bytes.count }
    var remaining: Int { bytes.count - index }
    mutating func u8() throws(GossipCodecError) -> UInt8 {
        guard index < bytes.count else { throw .truncated }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func u16() throws(GossipCodecError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated }
        defer { index += 2 }
        return UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
    }
    mutating func u32() throws(GossipCodecError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[index + i]) }
        index += 4
        return v
    }
    mutating func u64() throws(GossipCodecError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[index + i]) }
        index += 8
        return v
    }
    mutating func raw(_ count: Int) throws(GossipCodecError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }
    mutating func address() throws(GossipCodecError) -> GossipAddress {
        let length = Int(try u8())
        guard length > 0 else { throw .invalidHost }
        let raw = try raw(length)
        guard let host = String(validating: raw, as: UTF8.self) else { throw .invalidHost }
        return GossipAddress(host: host, port: try u16())
    }
}
