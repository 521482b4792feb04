import IoTTypes
import MQTTCodec
import NIOCore
import TopicTrie

/// The protocol core of one MQTT connection (an "Instance" in the SWIM glossary). It takes events and `now`
/// and returns ``Action``s for its shell (`MQTTConnectionHandler`) to carry out; it never does I/O, reads a clock
/// or touches shared state.
///
/// Lifecycle:
/// ```
///  awaitingConnect --CONNECT ok--> opening --onSessionOpened--> connected --DISCONNECT/loss/takeover--> closed
///        \--bad CONNECT--> closed          (deliveries and packets are buffered while opening)
/// ```
/// Deviations from the MQTT 5 spec, chosen to match AWS IoT Core: Subscription Identifiers are not available
/// (using one is answered with DISCONNECT 0xA1); enhanced authentication (AUTH) is not supported.
public struct SessionStateMachine: Sendable {
    public enum Phase: Sendable, Hashable {
        case awaitingConnect
        case opening
        case connected
        case closed
    }

    /// What the shell must do, in order.
    public enum Action: Sendable, Equatable {
        /// Encode and write this packet to the client.
        case send(MQTTPacket)
        /// Attach this session to the broker: take over a live session with the same client id, or resume a
        /// parked one (or start fresh when `cleanStart`). The shell answers with ``onSessionOpened(_:now:)``.
        case openSession(clientID: String, cleanStart: Bool)
        /// Route an application message to matching subscriptions (local trie, and remote nodes in a cluster). With an
        /// `ackToken` (only when ``acknowledgeAfterRouting`` is on, for QoS 1/2) the client's acknowledgement waits
        /// for the routing: the shell answers with ``onRouted(token:success:)`` once every remote node the message
        /// went to has taken it (at once when none was involved).
        case route(BrokerMessage, ackToken: UInt64?)
        /// Store (or clear, with an empty payload) the retained message for its topic, before routing it. With a
        /// `storeToken` the client's acknowledgement waits for the store: the shell answers with
        /// ``onRetainStored(token:success:)`` once the write is durable (committed) or has failed.
        case retain(BrokerMessage, storeToken: UInt64?)
        /// Add or replace a subscription in the routing index.
        case addSubscription(TopicFilter, SubscriptionOptions)
        case removeSubscription(TopicFilter)
        /// Look up retained messages matching the filter and hand each to ``onDeliver(_:now:)`` with RETAIN=1.
        case deliverRetained(TopicFilter, SubscriptionOptions)
        /// (Re)arm the keep-alive check to fire at this instant.
        case armKeepAlive(at: Timestamp)
        /// Close the network connection (after the preceding sends are flushed).
        case close(ReasonCode)
        /// The connection is gone: give the session back to the broker (park it, or discard it when
        /// `expiry` is 0) and publish `will` (after `willDelay` seconds, if non-zero). `taken over` sessions are
        /// handed to the new connection by the broker.
        case endSession(SessionState, expiry: UInt32, will: BrokerMessage?, willDelay: UInt32)
        /// A message could not be delivered (queue full, too large for the client, expired). For metrics.
        case dropped(DropReason)
        /// A policy refused this (the effect — CONNACK, PUBACK, SUBACK code, close, or a delivery left out — is in
        /// the other actions). For logs and metrics.
        case denied(AuthorizationAction)
    }

    public enum DropReason: Sendable, Hashable {
        case queueFull, expired
    }

    public let tenant: TenantID
    /// Who the listener authenticated this connection as; `.unauthenticated` refuses every CONNECT (0x87 / 0x05).
    public let principal: Principal
    public let limits: BrokerLimits
    /// Makes the connection's authorizer at CONNECT; nil (or a nil authorizer) means no policy applies.
    public let authorizing: (any Authorizing)?
    /// The peer's address, for `aws:SourceIp`; the shell sets it once it knows it.
    public var sourceIP: String?
    /// The client certificate's names (`iot:Certificate.*`); the shell sets them from the TLS handshake.
    public var certificateNames: CertificateNames?
    /// The connection's cached policy decisions, from CONNECT on (nil: not enforced).
    public internal(set) var authorization: AuthorizationCache?
    public internal(set) var phase: Phase = .awaitingConnect
    public internal(set) var version: ProtocolVersion = .v311
    public internal(set) var clientID: String = ""
    /// Effective keep alive in seconds (after clamping).
    public internal(set) var keepAlive: UInt16 = 0
    public internal(set) var session: SessionState
    var lastActivity: Timestamp = .zero
    /// Set when the connection opened: CONNECT must arrive before it.
    var connectDeadline: Timestamp?
    var cleanStart = true
    var assignedClientID = false
    var sessionExpiry: UInt32 = 0
    var requestedSessionExpiry: UInt32 = 0
    var requestedKeepAlive: UInt16 = 0
    var will: WillMessage?
    /// Client-imposed limits (v5 CONNECT properties).
    public internal(set) var clientReceiveMaximum: UInt16 = 65_535
    public internal(set) var clientMaximumPacketSize: UInt32 = 268_435_460
    var clientTopicAliasMaximum: UInt16 = 0
    var inboundAliases: [UInt16: String] = [:]
    var outboundAliases: [String: UInt16] = [:]
    /// Packets and deliveries that arrived while the session was being opened.
    var bufferedPackets: [MQTTPacket] = []
    var bufferedDeliveries: [OutboundMessage] = []
    /// PUBACKs and PUBRECs owed to the client, in the order their PUBLISHes arrived ([MQTT-4.6.0-2]). An entry
    /// with a token waits for its retained message to be stored; the ones behind it wait with it.
    var pendingAcks: [PendingAck] = []
    var nextStoreToken: UInt64 = 1
    /// Whether QoS 1/2 acknowledgements also wait for routing (``Action/route(_:ackToken:)``): on in a cluster,
    /// where a message may go to other nodes; off on a single node, where routing is synchronous.
    public var acknowledgeAfterRouting = false

    struct PendingAck: Sendable {
        var packet: MQTTPacket
        var storeToken: UInt64?
        /// Waiting for ``onRouted(token:success:)``.
        var routeToken: UInt64? = nil
        var ready: Bool { storeToken == nil && routeToken == nil }
    }

    public init(tenant: TenantID = .default, principal: Principal = .anonymous, limits: BrokerLimits = BrokerLimits(),
                authorizing: (any Authorizing)? = nil) {
        self.tenant = tenant
        self.principal = principal
        self.limits = limits
        self.authorizing = authorizing
        self.session = SessionState(tenant: tenant, clientID: "", protocolVersion: .v311)
    }

    /// How many outbound QoS 1/2 messages may be unacknowledged at once.
    var sendQuota: Int { Int(min(clientReceiveMaximum, limits.maxInflightOutbound)) }

    // MARK: - Inbound packets

    /// A decoded packet arrived from the client.
    public mutating func onPacket(_ packet: MQTTPacket, now: Timestamp) -> [Action] {
        var actions: [Action] = []
        switch phase {
        case .awaitingConnect:
            if case .connect(let c) = packet {
                onConnect(c, assignedID: { nil }, now: now, into: &actions)
            } else {
                // [MQTT-3.1.0-1] the first packet must be CONNECT: close without a reply.
                phase = .closed
                actions.append(.close(.protocolError))
            }
        case .opening:
            bufferedPackets.append(packet)
        case .connected:
            lastActivity = now
            onConnectedPacket(packet, now: now, into: &actions)
        case .closed:
            break
        }
        return actions
    }

    /// A CONNECT arrived; `assignedID` is evaluated only when the client sent an empty client id.
    public mutating func onConnect(_ c: ConnectPacket, assignedID: @autoclosure () -> String, now: Timestamp)
        -> [Action]
    {
        var actions: [Action] = []
        guard phase == .awaitingConnect else {
            protocolViolation(.protocolError, into: &actions)  // [MQTT-3.1.0-2] a second CONNECT
            return actions
        }
        onConnect(c, assignedID: { assignedID() }, now: now, into: &actions)
        return actions
    }

    private mutating func onConnectedPacket(_ packet: MQTTPacket, now: Timestamp, into actions: inout [Action]) {
        switch packet {
        case .publish(let p): onPublish(p, now: now, into: &actions)
        case .puback(let a): onPubAck(a, now: now, into: &actions)
        case .pubrec(let a): onPubRec(a, now: now, into: &actions)
        case .pubrel(let a): onPubRel(a, into: &actions)
        case .pubcomp(let a): onPubComp(a, now: now, into: &actions)
        case .subscribe(let s): onSubscribe(s, into: &actions)
        case .unsubscribe(let u): onUnsubscribe(u, into: &actions)
        case .pingreq: actions.append(.send(.pingresp))
        case .disconnect(let d): onDisconnect(d, into: &actions)
        case .connect:
            protocolViolation(.protocolError, into: &actions)  // [MQTT-3.1.0-2]
        case .auth:
            // Enhanced authentication is not supported, so no AUTH exchange can be in progress [MQTT-4.12.0-1].
            protocolViolation(.protocolError, into: &actions)
        case .connack, .suback, .unsuback, .pingresp:
            // Server-to-client packets sent by a client.
            protocolViolation(.protocolError, into: &actions)
        }
    }

    // MARK: - Timers and connection events

    /// The network connection is up (or, behind TLS, established): CONNECT must arrive within
    /// `limits.connectTimeout`, checked by the same timer as keep alive.
    public mutating func onConnectionOpened(now: Timestamp) -> [Action] {
        guard phase == .awaitingConnect, connectDeadline == nil else { return [] }
        let deadline = now.adding(seconds: Int64(limits.connectTimeout))
        connectDeadline = deadline
        return [.armKeepAlive(at: deadline)]
    }

    /// The keep-alive check fired. Closes with 0x8D if nothing arrived for 1.5× keep alive ([MQTT-3.1.2-22]);
    /// before CONNECT, closes (silently: there is no session to tell) once the connect deadline has passed.
    public mutating func onKeepAliveCheck(now: Timestamp) -> [Action] {
        var actions: [Action] = []
        if phase == .awaitingConnect, let deadline = connectDeadline {
            if now >= deadline {
                phase = .closed
                actions.append(.close(.maximumConnectTime))
            } else {
                actions.append(.armKeepAlive(at: deadline))
            }
            return actions
        }
        guard phase == .connected, keepAlive > 0 else { return actions }
        let deadline = lastActivity.adding(nanoseconds: Int64(keepAlive) * 1_500_000_000)
        if now >= deadline {
            protocolViolation(.keepAliveTimeout, into: &actions)
        } else {
            actions.append(.armKeepAlive(at: deadline))
        }
        return actions
    }

    /// The network connection closed (by the peer, by an error, or after our own `.close`).
    /// Publishes the Will unless the client disconnected normally ([MQTT-3.1.2-8]).
    public mutating func onConnectionClosed(now: Timestamp) -> [Action] {
        var actions: [Action] = []
        switch phase {
        case .awaitingConnect:
            phase = .closed
        case .opening, .connected:
            phase = .closed
            endSession(now: now, into: &actions)
        case .closed:
            if !sessionEnded { endSession(now: now, into: &actions) }
        }
        return actions
    }

    /// The same client id connected elsewhere: tell this client (v5: DISCONNECT 0x8E) and close
    /// ([MQTT-3.1.4-3]). The session itself goes to the broker through `.endSession` when the connection closes.
    public mutating func onTakenOver() -> [Action] {
        var actions: [Action] = []
        guard phase == .connected || phase == .opening else { return actions }
        protocolViolation(.sessionTakenOver, into: &actions)
        return actions
    }

    /// Authorization may have changed (the shell calls this when the source's epoch moved): a connection whose
    /// principal no longer authenticates — its certificate left ACTIVE — is ended (v5: DISCONNECT 0x87), as AWS
    /// disconnects such devices. Policy decisions themselves are re-evaluated lazily, at the next operation.
    public mutating func onAuthorizationChanged() -> [Action] {
        var actions: [Action] = []
        guard phase == .connected || phase == .opening else { return actions }
        if authorization?.refresh() == false {
            actions.append(.denied(.connect))
            protocolViolation(.notAuthorized, into: &actions)
        }
        return actions
    }

    /// The server is shutting down: v5 clients get DISCONNECT 0x8B.
    public mutating func onServerShutdown() -> [Action] {
        var actions: [Action] = []
        guard phase != .closed else { return actions }
        protocolViolation(.serverShuttingDown, into: &actions)
        return actions
    }

    public internal(set) var sessionEnded = false

    /// The session expiry interval granted to this connection (seconds; 0: the session ends with the connection).
    public var grantedSessionExpiry: UInt32 { sessionExpiry }

    private mutating func endSession(now: Timestamp, into actions: inout [Action]) {
        guard !sessionEnded, !clientID.isEmpty else { return }
        sessionEnded = true
        var willMessage: BrokerMessage?
        var willDelay: UInt32 = 0
        if let w = will, willAuthorized(w, into: &actions) {
            willMessage = makeMessage(topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain,
                                      properties: w.properties, now: now)
            willDelay = w.properties.willDelayInterval ?? 0
        }
        will = nil
        actions.append(.endSession(session, expiry: sessionExpiry, will: willMessage, willDelay: willDelay))
    }

    enum AuthorizationOutcome { case allowed, denied, closed }

    /// Asks the connection's policies (no-op when none apply). A denial is reported with `.denied`; a principal
    /// that no longer authenticates also ends the connection (`.closed`: the caller stops).
    mutating func authorize(_ action: AuthorizationAction, into actions: inout [Action]) -> AuthorizationOutcome {
        guard let answer = authorization?.check(action) else { return .allowed }
        switch answer {
        case .allow:
            return .allowed
        case .deny:
            actions.append(.denied(action))
            return .denied
        case .principalInactive:
            actions.append(.denied(action))
            protocolViolation(.notAuthorized, into: &actions)
            return .closed
        }
    }

    /// The Will is published under the connection's policies, as any PUBLISH (`iot:Publish`, and
    /// `iot:RetainPublish` when retained), judged when it would be sent; a refused Will is dropped.
    private mutating func willAuthorized(_ w: WillMessage, into actions: inout [Action]) -> Bool {
        var checks: [AuthorizationAction] = [.publish(topic: w.topic)]
        if w.retain { checks.append(.retainPublish(topic: w.topic)) }
        for action in checks {
            guard let answer = authorization?.check(action) else { return true }
            if answer != .allow {
                actions.append(.denied(action))
                return false
            }
        }
        return true
    }

    /// Sends DISCONNECT with `reason` on v5 (3.1.1 has no server DISCONNECT: just close), then closes.
    mutating func protocolViolation(_ reason: ReasonCode, into actions: inout [Action]) {
        if version == .v5 {
            // Before CONNACK the refusal is a failing CONNACK; a takeover or shutdown is always a DISCONNECT.
            let beforeConnAck = phase == .awaitingConnect || phase == .opening
            if beforeConnAck && reason != .sessionTakenOver && reason != .serverShuttingDown {
                actions.append(.send(.connack(ConnAckPacket(reasonCode: reason))))
            } else {
                actions.append(.send(.disconnect(DisconnectPacket(reasonCode: reason))))
            }
        }
        phase = .closed
        actions.append(.close(reason))
    }

    /// Builds a broker message from PUBLISH or Will fields, applying Message Expiry ([MQTT-3.3.2-5]).
    func makeMessage(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: MQTTProperties,
                     now: Timestamp) -> BrokerMessage {
        var expiresAt: Timestamp?
        if let e = properties.messageExpiryInterval {
            expiresAt = now.adding(seconds: Int64(min(e, limits.maxMessageExpiry)))
        }
        return BrokerMessage(tenant: tenant, topic: topic, payload: payload, qos: qos, retain: retain,
                             properties: BrokerMessage.forwardedProperties(properties), expiresAt: expiresAt,
                             publisherClientID: clientID)
    }
}
