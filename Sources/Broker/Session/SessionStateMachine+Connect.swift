import IoTTypes
import MQTTCodec
import NIOCore
import TopicTrie

extension SessionStateMachine {
    // MARK: - CONNECT

    /// `assignedID` is called only for an empty client id; nil means no id can be assigned (0x85).
    mutating func onConnect(_ c: ConnectPacket, assignedID: () -> String?, now: Timestamp,
                            into actions: inout [Action]) {
        version = c.protocolVersion
        lastActivity = now

        // Default deny: a connection nothing authenticated gets no session (CONNACK 0x87, 3.1.1: 0x05).
        if principal == .unauthenticated { return reject(.notAuthorized, into: &actions) }

        // Client identifier ([MQTT-3.1.3-5], AWS: ≤ 128 bytes, `$` prefix reserved).
        var id = c.clientID
        if id.isEmpty {
            // [MQTT-3.1.3-8] 3.1.1 with an empty id must ask for a clean session.
            if c.protocolVersion == .v311 && !c.cleanStart {
                return reject(.clientIdentifierNotValid, into: &actions)
            }
            guard let assigned = assignedID() else { return reject(.clientIdentifierNotValid, into: &actions) }
            id = assigned
            assignedClientID = true
        }
        if id.utf8.count > limits.maxClientIDLength || id.hasPrefix("$") {
            return reject(.clientIdentifierNotValid, into: &actions)
        }

        // v5 CONNECT properties.
        let props = c.properties
        if props.authenticationMethod != nil {
            return reject(.badAuthenticationMethod, into: &actions)  // no enhanced auth ([MQTT-4.12.0-1])
        }
        if let rm = props.receiveMaximum { clientReceiveMaximum = rm }
        if let mps = props.maximumPacketSize { clientMaximumPacketSize = mps }
        if let tam = props.topicAliasMaximum { clientTopicAliasMaximum = tam }

        // The Will must be publishable: valid topic, QoS and retain within what we offer.
        if let w = c.will {
            if (try? Topic.validateName(w.topic, limits: limits.topic)) == nil {
                return reject(.topicNameInvalid, into: &actions)
            }
            if w.qos > limits.maxQoS { return reject(.qosNotSupported, into: &actions) }
            if w.retain && !limits.retainAvailable { return reject(.retainNotSupported, into: &actions) }
            if w.properties.payloadFormatIndicator == 1 && !w.payload.isValidUTF8 {
                return reject(.payloadFormatInvalid, into: &actions)
            }
        }
        will = c.will

        // Keep alive: clamp into [min, max]; 0 means "none", which we do not grant ([MQTT-3.2.2-21]).
        requestedKeepAlive = c.keepAlive
        if c.keepAlive == 0 {
            keepAlive = limits.maxKeepAlive
        } else {
            keepAlive = min(max(c.keepAlive, limits.minKeepAlive), limits.maxKeepAlive)
        }

        // Session expiry: 3.1.1 clean session 0 keeps the session for the maximum; v5 asks for it.
        switch c.protocolVersion {
        case .v311: requestedSessionExpiry = c.cleanStart ? 0 : limits.maxSessionExpiry
        case .v5: requestedSessionExpiry = props.sessionExpiryInterval ?? 0
        }
        sessionExpiry = min(requestedSessionExpiry, limits.maxSessionExpiry)

        // Policies (`iot:Connect` on `client/<id>`), for principals they apply to.
        if let authorizer = authorizing?.authorizer(for: ConnectionIdentity(
            tenant: tenant, principal: principal, clientID: id, certificateNames: certificateNames, sourceIP: sourceIP,
            persistentConnect: requestedSessionExpiry > 0, lastWill: c.will != nil))
        {
            var cache = AuthorizationCache(authorizer, limit: limits.maxAuthorizationCacheEntries)
            guard cache.check(.connect) == .allow else {
                actions.append(.denied(.connect))
                return reject(.notAuthorized, into: &actions)
            }
            authorization = cache
        }

        clientID = id
        cleanStart = c.cleanStart
        session = SessionState(tenant: tenant, clientID: id, protocolVersion: c.protocolVersion)
        phase = .opening
        actions.append(.openSession(clientID: id, cleanStart: c.cleanStart))
    }

    private mutating func reject(_ reason: ReasonCode, into actions: inout [Action]) {
        actions.append(.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: reason))))
        phase = .closed
        actions.append(.close(reason))
    }

    /// The broker attached the session: `resumed` is the previous session state when one existed and the client
    /// did not ask for a clean start. Sends CONNACK, retransmits what was in flight, drains the queue, then
    /// handles anything that arrived meanwhile.
    public mutating func onSessionOpened(_ resumed: SessionState?, now: Timestamp) -> [Action] {
        var actions: [Action] = []
        guard phase == .opening else { return actions }
        let present = resumed != nil && !cleanStart
        if present, let r = resumed {
            session = r
            session.protocolVersion = version
        }
        actions.append(.send(.connack(connAck(sessionPresent: present))))
        phase = .connected
        actions.append(.armKeepAlive(at: now.adding(nanoseconds: Int64(keepAlive) * 1_500_000_000)))

        if present {
            // [MQTT-4.4.0-1] resend unacknowledged PUBLISH (DUP=1) and PUBREL, in their original order.
            for (id, entry) in session.inflight.sorted(by: { $0.value.sequence < $1.value.sequence }) {
                switch entry.phase {
                case .awaitingPubAck, .awaitingPubRec:
                    if entry.outbound.message.isExpired(at: now) {
                        session.inflight[id] = nil
                        actions.append(.dropped(.expired))
                        continue
                    }
                    actions.append(.send(.publish(publishPacket(entry.outbound, packetID: id, dup: true, now: now))))
                case .awaitingPubComp:
                    actions.append(.send(.pubrel(PubAckPacket(packetID: id))))
                }
            }
        }
        let early = bufferedDeliveries
        bufferedDeliveries = []
        for d in early { deliver(d, now: now, into: &actions) }
        drainPending(now: now, into: &actions)

        let packets = bufferedPackets
        bufferedPackets = []
        for p in packets where phase == .connected {
            actions.append(contentsOf: onPacket(p, now: now))
        }
        return actions
    }

    private func connAck(sessionPresent: Bool) -> ConnAckPacket {
        var props = MQTTProperties()
        if version == .v5 {
            if assignedClientID { props.append(.assignedClientIdentifier(clientID)) }
            if keepAlive != requestedKeepAlive { props.append(.serverKeepAlive(keepAlive)) }
            if sessionExpiry != requestedSessionExpiry { props.append(.sessionExpiryInterval(sessionExpiry)) }
            props.append(.receiveMaximum(limits.receiveMaximum))
            if limits.maxQoS < .exactlyOnce { props.append(.maximumQoS(limits.maxQoS.rawValue)) }
            props.append(.retainAvailable(limits.retainAvailable ? 1 : 0))
            props.append(.maximumPacketSize(limits.maxPacketSize))
            props.append(.topicAliasMaximum(limits.topicAliasMaximum))
            props.append(.wildcardSubscriptionAvailable(1))
            props.append(.subscriptionIdentifierAvailable(0))
            props.append(.sharedSubscriptionAvailable(1))
        }
        return ConnAckPacket(sessionPresent: sessionPresent, reasonCode: .success, properties: props)
    }

    // MARK: - DISCONNECT from the client

    mutating func onDisconnect(_ d: DisconnectPacket, into actions: inout [Action]) {
        if version == .v5, let e = d.properties.sessionExpiryInterval {
            // [MQTT-3.14.2-2] a session that was to end on close cannot be extended at DISCONNECT.
            if requestedSessionExpiry == 0 && e > 0 {
                protocolViolation(.protocolError, into: &actions)
                return
            }
            sessionExpiry = min(e, limits.maxSessionExpiry)
        }
        // [MQTT-3.1.2-10] a normal DISCONNECT discards the Will; 0x04 asks for it to be published.
        if !(version == .v5 && d.reasonCode == .disconnectWithWillMessage) { will = nil }
        phase = .closed
        actions.append(.close(.normalDisconnection))
    }
}

extension ByteBuffer {
    /// Whether the readable bytes are well-formed UTF-8 (for Payload Format Indicator 1, [MQTT-3.3.2-4]).
    public var isValidUTF8: Bool {
        self.withUnsafeReadableBytes { raw in
            String(validating: raw, as: UTF8.self) != nil
        }
    }
}
