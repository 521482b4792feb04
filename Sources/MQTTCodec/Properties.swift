import NIOCore

/// One MQTT 5 property ([MQTT-2.2.2.2]). Which properties a packet may carry, and which may repeat, is
/// checked by the decoder (``PropertyID/allowed(in:)``).
public enum MQTTProperty: Hashable, Sendable {
    case payloadFormatIndicator(UInt8)  // 0x01
    case messageExpiryInterval(UInt32)  // 0x02
    case contentType(String)  // 0x03
    case responseTopic(String)  // 0x08
    case correlationData(ByteBuffer)  // 0x09
    case subscriptionIdentifier(UInt32)  // 0x0B (variable byte integer)
    case sessionExpiryInterval(UInt32)  // 0x11
    case assignedClientIdentifier(String)  // 0x12
    case serverKeepAlive(UInt16)  // 0x13
    case authenticationMethod(String)  // 0x15
    case authenticationData(ByteBuffer)  // 0x16
    case requestProblemInformation(UInt8)  // 0x17
    case willDelayInterval(UInt32)  // 0x18
    case requestResponseInformation(UInt8)  // 0x19
    case responseInformation(String)  // 0x1A
    case serverReference(String)  // 0x1C
    case reasonString(String)  // 0x1F
    case receiveMaximum(UInt16)  // 0x21
    case topicAliasMaximum(UInt16)  // 0x22
    case topicAlias(UInt16)  // 0x23
    case maximumQoS(UInt8)  // 0x24
    case retainAvailable(UInt8)  // 0x25
    case userProperty(String, String)  // 0x26
    case maximumPacketSize(UInt32)  // 0x27
    case wildcardSubscriptionAvailable(UInt8)  // 0x28
    case subscriptionIdentifierAvailable(UInt8)  // 0x29
    case sharedSubscriptionAvailable(UInt8)  // 0x2A

    public var id: PropertyID {
        switch self {
        case .payloadFormatIndicator: return .payloadFormatIndicator
        case .messageExpiryInterval: return .messageExpiryInterval
        case .contentType: return .contentType
        case .responseTopic: return .responseTopic
        case .correlationData: return .correlationData
        case .subscriptionIdentifier: return .subscriptionIdentifier
        case .sessionExpiryInterval: return .sessionExpiryInterval
        case .assignedClientIdentifier: return .assignedClientIdentifier
        case .serverKeepAlive: return .serverKeepAlive
        case .authenticationMethod: return .authenticationMethod
        case .authenticationData: return .authenticationData
        case .requestProblemInformation: return .requestProblemInformation
        case .willDelayInterval: return .willDelayInterval
        case .requestResponseInformation: return .requestResponseInformation
        case .responseInformation: return .responseInformation
        case .serverReference: return .serverReference
        case .reasonString: return .reasonString
        case .receiveMaximum: return .receiveMaximum
        case .topicAliasMaximum: return .topicAliasMaximum
        case .topicAlias: return .topicAlias
        case .maximumQoS: return .maximumQoS
        case .retainAvailable: return .retainAvailable
        case .userProperty: return .userProperty
        case .maximumPacketSize: return .maximumPacketSize
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable
        case .subscriptionIdentifierAvailable: return .subscriptionIdentifierAvailable
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable
        }
    }
}

/// Property identifiers ([MQTT-2.2.2.2], table 2-4).
public enum PropertyID: UInt8, Sendable, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    /// Where a property may appear. `.will` is the Will Properties block inside CONNECT.
    public enum Context: Sendable, Hashable {
        case connect, connack, publish, will, pubAck, subscribe, suback, unsubscribe, unsuback, disconnect, auth
    }

    /// Table 2-4 of the MQTT 5 specification.
    public func allowed(in context: Context) -> Bool {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            return context == .publish || context == .will
        case .subscriptionIdentifier: return context == .publish || context == .subscribe
        case .sessionExpiryInterval: return context == .connect || context == .connack || context == .disconnect
        case .assignedClientIdentifier, .retainAvailable, .maximumQoS, .wildcardSubscriptionAvailable,
            .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable, .serverKeepAlive,
            .responseInformation:
            return context == .connack
        case .authenticationMethod, .authenticationData:
            return context == .connect || context == .connack || context == .auth
        case .requestProblemInformation, .requestResponseInformation: return context == .connect
        case .willDelayInterval: return context == .will
        case .serverReference: return context == .connack || context == .disconnect
        case .reasonString:
            return [.connack, .pubAck, .suback, .unsuback, .disconnect, .auth].contains(context)
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize:
            return context == .connect || context == .connack
        case .topicAlias: return context == .publish
        case .userProperty: return true
        }
    }

    /// User Property may repeat anywhere, Subscription Identifier may repeat in PUBLISH; any other repeat is a
    /// Protocol Error ([MQTT-2.2.2-1] and the "It is a Protocol Error to include … more than once" statements).
    public func mayRepeat(in context: Context) -> Bool {
        self == .userProperty || (self == .subscriptionIdentifier && context == .publish)
    }
}

/// An ordered list of properties (order matters for User Properties, [MQTT-3.3.2-18]) with typed accessors.
public struct MQTTProperties: Hashable, Sendable, ExpressibleByArrayLiteral {
    public var list: [MQTTProperty]

    public init(_ list: [MQTTProperty] = []) { self.list = list }
    public init(arrayLiteral elements: MQTTProperty...) { self.list = elements }

    public var isEmpty: Bool { list.isEmpty }
    public mutating func append(_ p: MQTTProperty) { list.append(p) }

    public var payloadFormatIndicator: UInt8? {
        for case .payloadFormatIndicator(let v) in list { return v }
        return nil
    }
    public var messageExpiryInterval: UInt32? {
        for case .messageExpiryInterval(let v) in list { return v }
        return nil
    }
    public var contentType: String? {
        for case .contentType(let v) in list { return v }
        return nil
    }
    public var responseTopic: String? {
        for case .responseTopic(let v) in list { return v }
        return nil
    }
    public var correlationData: ByteBuffer? {
        for case .correlationData(let v) in list { return v }
        return nil
    }
    public var subscriptionIdentifiers: [UInt32] {
        var out: [UInt32] = []
        for case .subscriptionIdentifier(let v) in list { out.append(v) }
        return out
    }
    public var sessionExpiryInterval: UInt32? {
        for case .sessionExpiryInterval(let v) in list { return v }
        return nil
    }
    public var assignedClientIdentifier: String? {
        for case .assignedClientIdentifier(let v) in list { return v }
        return nil
    }
    public var serverKeepAlive: UInt16? {
        for case .serverKeepAlive(let v) in list { return v }
        return nil
    }
    public var authenticationMethod: String? {
        for case .authenticationMethod(let v) in list { return v }
        return nil
    }
    public var requestProblemInformation: UInt8? {
        for case .requestProblemInformation(let v) in list { return v }
        return nil
    }
    public var willDelayInterval: UInt32? {
        for case .willDelayInterval(let v) in list { return v }
        return nil
    }
    public var requestResponseInformation: UInt8? {
        for case .requestResponseInformation(let v) in list { return v }
        return nil
    }
    public var reasonString: String? {
        for case .reasonString(let v) in list { return v }
        return nil
    }
    public var receiveMaximum: UInt16? {
        for case .receiveMaximum(let v) in list { return v }
        return nil
    }
    public var topicAliasMaximum: UInt16? {
        for case .topicAliasMaximum(let v) in list { return v }
        return nil
    }
    public var topicAlias: UInt16? {
        for case .topicAlias(let v) in list { return v }
        return nil
    }
    public var maximumQoS: UInt8? {
        for case .maximumQoS(let v) in list { return v }
        return nil
    }
    public var maximumPacketSize: UInt32? {
        for case .maximumPacketSize(let v) in list { return v }
        return nil
    }
    public var userProperties: [(String, String)] {
        var out: [(String, String)] = []
        for case .userProperty(let k, let v) in list { out.append((k, v)) }
        return out
    }
}
