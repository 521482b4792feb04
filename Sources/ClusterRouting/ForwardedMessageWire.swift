import Broker
import IoTTypes
import LZ4
import MQTTCodec
import NIOCore

/// Why a forwarding step failed. Mapped once at each edge: to a bus error answer on the receiving side, to a
/// failed completion (and a counted failure) on the sending side.
public enum ForwardingError: Error, Sendable, Hashable {
    /// The batch is not one this node can read (the receiver answers bus error code 3, bad request).
    case malformed(String)
    /// The request did not reach the peer, or its answer did not come back in time.
    case transport(String)
    /// The peer answered something this node cannot read.
    case badAnswer(String)
}

/// One message on its way to another node, with the `$share` groups that node is to serve.
public struct ForwardedMessage: Sendable, Equatable {
    public var message: BrokerMessage
    public var groups: [SharedGroupKey]
    public init(message: BrokerMessage, groups: [SharedGroupKey]) {
        self.message = message
        self.groups = groups
    }
}

/// The payload of a bus request of kind 6 (message forwarding), and of its answer.
///
/// ```
/// request  = version:u8 (1) flags:u8 [rawLength:u32 if compressed] body   (body LZ4-framed if flags & 1)
/// body     = count:u32 message*count
/// message  = tenant:s16 topic:s16 publisher:s16 qos:u8 retain:u8 expiry property-count:u16 property*
///            group-count:u16 (group:s16 filter:s16)* payload:b32
/// expiry   = 0:u8 | 1:u8 remaining-ms:u64        (remaining at encoding, re-anchored to the receiver's clock)
/// property = 0x01 format:u8 | 0x03 content-type:s32 | 0x08 response-topic:s32 | 0x09 correlation:b32
///          | 0x26 key:s32 value:s32                (the properties forwarded to subscribers, in order)
/// answer   = accepted:u32                          (messages handed to local routing: = count)
/// s16/s32  = UTF-8 with a u16/u32 length; b32 = bytes with a u32 length; integers big-endian
/// ```
/// Decoding is strict: unknown version, flag, QoS, property id, invalid UTF-8, short or trailing bytes are errors.
public enum ForwardedMessageWire {
    public static let kind: UInt16 = 6
    public static let version: UInt8 = 1
    static let compressedFlag: UInt8 = 0x01
    /// Bodies at least this large are LZ4-compressed (kept only when it saves bytes).
    public static let defaultCompressionThreshold = 1024
    /// A decompressed body may not claim more than this.
    static let maxBodySize = 64 << 20

    // MARK: encoding

    /// Encodes a batch. `now` anchors the remaining message expiry. Returns the request and the body's size
    /// before compression (for metrics).
    public static func encode(_ batch: [ForwardedMessage], now: Timestamp,
                              compressAbove threshold: Int = defaultCompressionThreshold) -> (ByteBuffer, rawBytes: Int) {
        var body = ByteBuffer()
        body.reserveCapacity(batch.reduce(4) { $0 + estimatedSize($1) })
        body.writeInteger(UInt32(batch.count))
        for item in batch { write(item, now: now, into: &body) }
        let raw = body.readableBytes
        var out = ByteBuffer()
        if raw >= threshold, let packed = try? LZ4Frame.compress(Array(body.readableBytesView)), packed.count < raw {
            out.reserveCapacity(packed.count + 6)
            out.writeInteger(version)
            out.writeInteger(compressedFlag)
            out.writeInteger(UInt32(raw))
            out.writeBytes(packed)
        } else {
            out.reserveCapacity(raw + 2)
            out.writeInteger(version)
            out.writeInteger(UInt8(0))
            out.writeBuffer(&body)
        }
        return (out, raw)
    }

    /// Roughly the bytes `item` takes in a body (for the links' byte bounds and batch sizes).
    public static func estimatedSize(_ item: ForwardedMessage) -> Int {
        let m = item.message
        var n = 24 + m.tenant.accountID.utf8.count + m.topic.utf8.count + m.publisherClientID.utf8.count
        n += m.payload.readableBytes
        for g in item.groups { n += 4 + g.group.utf8.count + g.filter.utf8.count }
        for p in m.properties.list {
            switch p {
            case .contentType(let s), .responseTopic(let s): n += 5 + s.utf8.count
            case .correlationData(let d): n += 5 + d.readableBytes
            case .userProperty(let k, let v): n += 9 + k.utf8.count + v.utf8.count
            default: n += 2
            }
        }
        return n
    }

    static func write(_ item: ForwardedMessage, now: Timestamp, into b: inout ByteBuffer) {
        let m = item.message
        writeString16(m.tenant.accountID, into: &b)
        writeString16(m.topic, into: &b)
        writeString16(m.publisherClientID, into: &b)
        b.writeInteger(m.qos.rawValue)
        b.writeInteger(UInt8(m.retain ? 1 : 0))
        if let e = m.expiresAt {
            b.writeInteger(UInt8(1))
            b.writeInteger(UInt64(max(0, e.nanoseconds - now.nanoseconds) / 1_000_000))
        } else {
            b.writeInteger(UInt8(0))
        }
        let props = m.properties.list.filter(isForwarded)
        b.writeInteger(UInt16(props.count))
        for p in props {
            switch p {
            case .payloadFormatIndicator(let v):
                b.writeInteger(UInt8(0x01))
                b.writeInteger(v)
            case .contentType(let s):
                b.writeInteger(UInt8(0x03))
                writeString32(s, into: &b)
            case .responseTopic(let s):
                b.writeInteger(UInt8(0x08))
                writeString32(s, into: &b)
            case .correlationData(let d):
                b.writeInteger(UInt8(0x09))
                b.writeInteger(UInt32(d.readableBytes))
                b.writeImmutableBuffer(d)
            case .userProperty(let k, let v):
                b.writeInteger(UInt8(0x26))
                writeString32(k, into: &b)
                writeString32(v, into: &b)
            default:
                break  // filtered out above
            }
        }
        b.writeInteger(UInt16(item.groups.count))
        for g in item.groups {
            writeString16(g.group, into: &b)
            writeString16(g.filter, into: &b)
        }
        b.writeInteger(UInt32(m.payload.readableBytes))
        b.writeImmutableBuffer(m.payload)
    }

    static func isForwarded(_ p: MQTTProperty) -> Bool {
        switch p {
        case .payloadFormatIndicator, .contentType, .responseTopic, .correlationData, .userProperty: return true
        default: return false
        }
    }

    private static func writeString16(_ s: String, into b: inout ByteBuffer) {
        b.writeInteger(UInt16(truncatingIfNeeded: s.utf8.count))
        b.writeString(s)
    }

    private static func writeString32(_ s: String, into b: inout ByteBuffer) {
        b.writeInteger(UInt32(s.utf8.count))
        b.writeString(s)
    }

    // MARK: decoding

    /// Decodes a request. `now` re-anchors the remaining expiry on this node's clock.
    public static func decode(_ request: ByteBuffer, now: Timestamp) throws(ForwardingError) -> [ForwardedMessage] {
        var b = request
        guard let v: UInt8 = b.readInteger(), let flags: UInt8 = b.readInteger() else { throw .malformed("short header") }
        guard v == version else { throw .malformed("unknown version \(v)") }
        var body: ByteBuffer
        switch flags {
        case 0:
            body = b
        case compressedFlag:
            guard let raw: UInt32 = b.readInteger() else { throw .malformed("short header") }
            guard Int(raw) <= maxBodySize else { throw .malformed("body of \(raw) bytes over the limit") }
            let plain: [UInt8]
            do {
                plain = try LZ4Frame.decompress(Array(b.readableBytesView), maxSize: Int(raw))
            } catch {
                throw .malformed("bad LZ4 body: \(error)")
            }
            guard plain.count == Int(raw) else { throw .malformed("body is \(plain.count) bytes, header says \(raw)") }
            body = ByteBuffer(bytes: plain)
        default:
            throw .malformed("unknown flags \(flags)")
        }
        guard let count: UInt32 = body.readInteger() else { throw .malformed("no count") }
        // Each message takes at least 14 bytes: a count larger than that allows is a lie, not a reason to allocate.
        guard Int(count) <= body.readableBytes / 14 else { throw .malformed("count \(count) exceeds the body") }
        var out: [ForwardedMessage] = []
        out.reserveCapacity(Int(count))
        for _ in 0..<count { out.append(try readMessage(&body, now: now)) }
        guard body.readableBytes == 0 else { throw .malformed("\(body.readableBytes) trailing bytes") }
        return out
    }

    private static func readMessage(_ b: inout ByteBuffer, now: Timestamp) throws(ForwardingError) -> ForwardedMessage {
        let tenant = try readString16(&b, "tenant")
        let topic = try readString16(&b, "topic")
        let publisher = try readString16(&b, "publisher")
        guard let rawQoS: UInt8 = b.readInteger(), let qos = QoS(rawValue: rawQoS) else { throw .malformed("bad QoS") }
        guard let rawRetain: UInt8 = b.readInteger(), rawRetain <= 1 else { throw .malformed("bad retain flag") }
        guard let hasExpiry: UInt8 = b.readInteger(), hasExpiry <= 1 else { throw .malformed("bad expiry flag") }
        var expiresAt: Timestamp?
        if hasExpiry == 1 {
            guard let ms: UInt64 = b.readInteger(), ms <= UInt64(Int64.max / 1_000_000) else {
                throw .malformed("bad expiry")
            }
            expiresAt = now.adding(nanoseconds: Int64(ms) * 1_000_000)
        }
        guard let propCount: UInt16 = b.readInteger() else { throw .malformed("no property count") }
        var props = MQTTProperties()
        for _ in 0..<propCount {
            guard let id: UInt8 = b.readInteger() else { throw .malformed("short property") }
            switch id {
            case 0x01:
                guard let v: UInt8 = b.readInteger(), v <= 1 else { throw .malformed("bad payload format") }
                props.append(.payloadFormatIndicator(v))
            case 0x03: props.append(.contentType(try readString32(&b, "content type")))
            case 0x08: props.append(.responseTopic(try readString32(&b, "response topic")))
            case 0x09:
                guard let n: UInt32 = b.readInteger(), let d = b.readSlice(length: Int(n)) else {
                    throw .malformed("short correlation data")
                }
                props.append(.correlationData(d))
            case 0x26:
                let k = try readString32(&b, "user property")
                props.append(.userProperty(k, try readString32(&b, "user property")))
            default:
                throw .malformed("unknown property \(id)")
            }
        }
        guard let groupCount: UInt16 = b.readInteger() else { throw .malformed("no group count") }
        var groups: [SharedGroupKey] = []
        for _ in 0..<groupCount {
            let g = try readString16(&b, "group")
            groups.append(SharedGroupKey(group: g, filter: try readString16(&b, "group filter")))
        }
        guard let n: UInt32 = b.readInteger(), let payload = b.readSlice(length: Int(n)) else {
            throw .malformed("short payload")
        }
        let message = BrokerMessage(tenant: TenantID(tenant), topic: topic, payload: payload, qos: qos,
                                    retain: rawRetain == 1, properties: props, expiresAt: expiresAt,
                                    publisherClientID: publisher)
        return ForwardedMessage(message: message, groups: groups)
    }

    private static func readString16(_ b: inout ByteBuffer, _ what: String) throws(ForwardingError) -> String {
        guard let n: UInt16 = b.readInteger() else { throw .malformed("short \(what)") }
        return try readUTF8(&b, Int(n), what)
    }

    private static func readString32(_ b: inout ByteBuffer, _ what: String) throws(ForwardingError) -> String {
        guard let n: UInt32 = b.readInteger() else { throw .malformed("short \(what)") }
        return try readUTF8(&b, Int(n), what)
    }

    private static func readUTF8(_ b: inout ByteBuffer, _ n: Int, _ what: String) throws(ForwardingError) -> String {
        guard let slice = b.readSlice(length: n) else { throw .malformed("short \(what)") }
        guard let s = String(validating: slice.readableBytesView, as: UTF8.self) else {
            throw .malformed("\(what) is not UTF-8")
        }
        return s
    }

    // MARK: answer

    public static func encodeAnswer(accepted: Int) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt32(accepted))
        return b
    }

    public static func decodeAnswer(_ answer: ByteBuffer) throws(ForwardingError) -> Int {
        var b = answer
        guard let n: UInt32 = b.readInteger(), b.readableBytes == 0 else {
            throw .badAnswer("\(answer.readableBytes)-byte answer")
        }
        return Int(n)
    }
}
