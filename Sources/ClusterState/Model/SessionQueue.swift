import IoTTypes
import MQTTCodec

/// A QoS 1/2 message waiting in a parked persistent session's replicated queue (issue 7): the message as it will
/// be delivered (its `qos` is the delivery QoS, already capped by the subscription) and the retain flag it is
/// delivered with. Owned bytes and wall-clock expiry, like a retained message, so it means the same on every node.
public struct QueuedMessage: Sendable, Hashable {
    public var message: RetainedMessage
    public var retain: Bool

    public init(message: RetainedMessage, retain: Bool) {
        self.message = message
        self.retain = retain
    }
}

/// A persistent session's replicated queue: the messages queued for it while it was parked, each at the position
/// `apply` gave it (positions grow by one per appended message and are never reused within a queue, so "take up
/// to position P" names exactly what a reader saw).
public struct SessionQueue: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var position: UInt64
        public var message: QueuedMessage
    }

    /// The position the next appended message gets.
    public internal(set) var nextPosition: UInt64 = 1
    /// Oldest first.
    public internal(set) var entries: [Entry] = []
    /// Messages refused because the queue was full, since it was created (replicated, so every node agrees).
    public internal(set) var dropped: UInt64 = 0

    public init() {}

    /// The last position in the queue (0 when empty).
    public var lastPosition: UInt64 { entries.last?.position ?? 0 }
}

/// What a node hands to the node a client moved to (bus request kind 7 answer): the session's subscriptions and
/// the messages to deliver, oldest first — QoS 1/2 messages that were in flight and unacknowledged come first,
/// requeued for redelivery, then the queued ones. Encoded with the replicated state's binary conventions.
public struct SessionHandoff: Sendable, Hashable {
    public var protocolVersion: ProtocolVersion
    public var subscriptions: [String: SubscriptionOptions]
    public var expiryInterval: UInt32
    public var messages: [QueuedMessage]

    public init(protocolVersion: ProtocolVersion, subscriptions: [String: SubscriptionOptions], expiryInterval: UInt32,
                messages: [QueuedMessage]) {
        self.protocolVersion = protocolVersion
        self.subscriptions = subscriptions
        self.expiryInterval = expiryInterval
        self.messages = messages
    }
}

/// Bus request kind 7 (`takeover`): a node where a client just connected asks another node to give up the client
/// id. Wire format (version 1):
///
///     request: version u8 (= 1) | tenant | clientID | cleanStart bool | askingNode u64
///     answer:  version u8 (= 1) | appliedIndex u64 | status u8 (0 none, 1 closed/discarded, 2 handed over)
///              | [SessionHandoff if 2]
///
/// `appliedIndex` is how far the answering node had applied the log when it answered (after its own writes for the
/// session were applied): the asker waits until it has applied as far before it reads the replicated session, so it
/// never reads a queue the holder already cleared.
/// where SessionHandoff is protocolVersion u8 | subscriptions: count u32 then (filter, qos, noLocal, rap,
/// retainHandling) sorted by filter | expiryInterval u32 | messages: count u32 then (RetainedMessage, retain bool).
public enum SessionTakeoverWire {
    public static let kind: UInt16 = 7
    public static let version: UInt8 = 1

    public struct Request: Sendable, Hashable {
        public var tenant: TenantID
        public var clientID: String
        public var cleanStart: Bool
        public var askingNode: UInt64
        public init(tenant: TenantID, clientID: String, cleanStart: Bool, askingNode: UInt64) {
            self.tenant = tenant
            self.clientID = clientID
            self.cleanStart = cleanStart
            self.askingNode = askingNode
        }
    }

    /// An answer and the answering node's applied log index.
    public struct Reply: Sendable, Hashable {
        public var answer: Answer
        public var appliedIndex: UInt64
        public init(answer: Answer, appliedIndex: UInt64) {
            self.answer = answer
            self.appliedIndex = appliedIndex
        }
    }

    public enum Answer: Sendable, Hashable {
        /// The node held no session for the client id.
        case none
        /// It held one and closed or discarded it (clean start, or a session that ended with its connection).
        case discarded
        /// It held a persistent session and gives it up to the asker.
        case handedOver(SessionHandoff)
    }

    public static func encode(_ q: Request) -> [UInt8] {
        var w = BinaryWriter()
        w.write(version)
        w.write(q.tenant)
        w.write(q.clientID)
        w.write(q.cleanStart)
        w.write(q.askingNode)
        return w.bytes
    }

    public static func decodeRequest(_ bytes: [UInt8]) -> Request? {
        var r = BinaryReader(bytes, offset: 0)
        do throws(BinaryReadError) {
            guard try r.readUInt8() == version else { return nil }
            let q = Request(tenant: try r.readTenant(), clientID: try r.readString(), cleanStart: try r.readBool(),
                            askingNode: try r.readUInt64())
            return r.isAtEnd ? q : nil
        } catch {
            return nil
        }
    }

    public static func encode(_ reply: Reply) -> [UInt8] {
        var w = BinaryWriter()
        w.write(version)
        w.write(reply.appliedIndex)
        switch reply.answer {
        case .none: w.write(UInt8(0))
        case .discarded: w.write(UInt8(1))
        case .handedOver(let h):
            w.write(UInt8(2))
            w.write(h.protocolVersion.rawValue)
            w.writeSubscriptions(h.subscriptions)
            w.write(h.expiryInterval)
            w.writeCount(h.messages.count)
            for m in h.messages { w.write(m) }
        }
        return w.bytes
    }

    public static func decodeReply(_ bytes: [UInt8]) -> Reply? {
        var r = BinaryReader(bytes, offset: 0)
        do throws(BinaryReadError) {
            guard try r.readUInt8() == version else { return nil }
            let appliedIndex = try r.readUInt64()
            let answer: Answer
            switch try r.readUInt8() {
            case 0: answer = .none
            case 1: answer = .discarded
            case 2:
                guard let pv = ProtocolVersion(rawValue: try r.readUInt8()) else { return nil }
                let subscriptions = try r.readSubscriptions()
                let expiry = try r.readUInt32()
                var messages: [QueuedMessage] = []
                for _ in 0..<(try r.readCount(minimumElementSize: 20)) { messages.append(try r.readQueuedMessage()) }
                answer = .handedOver(SessionHandoff(protocolVersion: pv, subscriptions: subscriptions,
                                                    expiryInterval: expiry, messages: messages))
            default: return nil
            }
            return r.isAtEnd ? Reply(answer: answer, appliedIndex: appliedIndex) : nil
        } catch {
            return nil
        }
    }
}

extension BinaryWriter {
    mutating func write(_ m: QueuedMessage) {
        write(m.message)
        write(m.retain)
    }

    mutating func writeSubscriptions(_ subscriptions: [String: SubscriptionOptions]) {
        writeCount(subscriptions.count)
        for filter in subscriptions.keys.sorted(by: String.utf8Less) {
            let o = subscriptions[filter]!
            write(filter)
            write(o.qos.rawValue)
            write(o.noLocal)
            write(o.retainAsPublished)
            write(o.retainHandling.rawValue)
        }
    }
}

extension BinaryReader {
    mutating func readQueuedMessage() throws(BinaryReadError) -> QueuedMessage {
        QueuedMessage(message: try readRetainedMessage(), retain: try readBool())
    }

    mutating func readSubscriptions() throws(BinaryReadError) -> [String: SubscriptionOptions] {
        let n = try readCount(minimumElementSize: 8)
        var subscriptions: [String: SubscriptionOptions] = [:]
        var previous: String?
        for _ in 0..<n {
            let filter = try readString()
            if let previous, !String.utf8Less(previous, filter) { throw BinaryReadError() }
            previous = filter
            let qos = try readQoS()
            let noLocal = try readBool()
            let rap = try readBool()
            guard let rh = RetainHandling(rawValue: try readUInt8()) else { throw BinaryReadError() }
            subscriptions[filter] = SubscriptionOptions(qos: qos, noLocal: noLocal, retainAsPublished: rap,
                                                        retainHandling: rh)
        }
        return subscriptions
    }
}
