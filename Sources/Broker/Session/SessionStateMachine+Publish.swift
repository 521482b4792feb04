import IoTTypes
import MQTTCodec
import NIOCore
import TopicTrie

extension SessionStateMachine {
    // MARK: - PUBLISH from the client

    mutating func onPublish(_ p: PublishPacket, now: Timestamp, into actions: inout [Action]) {
        // Topic alias ([MQTT-3.3.2-7]..[MQTT-3.3.2-12]).
        var topic = p.topic
        if let alias = p.properties.topicAlias {
            guard version == .v5, alias != 0, alias <= limits.topicAliasMaximum else {
                return protocolViolation(.topicAliasInvalid, into: &actions)
            }
            if topic.isEmpty {
                guard let known = inboundAliases[alias] else {
                    return protocolViolation(.protocolError, into: &actions)  // unknown alias
                }
                topic = known
            } else {
                inboundAliases[alias] = topic
            }
        } else if topic.isEmpty {
            return protocolViolation(.protocolError, into: &actions)  // no topic and no alias
        }
        do {
            try Topic.validateName(topic, limits: limits.topic)
        } catch {
            return protocolViolation(.topicNameInvalid, into: &actions)  // [MQTT-3.3.2-2]
        }
        if p.qos > limits.maxQoS { return protocolViolation(.qosNotSupported, into: &actions) }
        if p.retain && !limits.retainAvailable { return protocolViolation(.retainNotSupported, into: &actions) }
        // AWS IoT: a retained publish to a reserved `$` topic is refused.
        if p.retain && topic.hasPrefix("$") { return protocolViolation(.topicNameInvalid, into: &actions) }
        if p.properties.subscriptionIdentifiers.count > 0 {
            return protocolViolation(.protocolError, into: &actions)  // [MQTT-3.3.4-6] client→server
        }

        // Policies: `iot:Publish`, and `iot:RetainPublish` for a retained message. AWS IoT: a 3.1.1 connection is
        // closed; v5 gets PUBACK (PUBREC) 0x87, and a denied QoS 0 message is dropped.
        switch authorizePublish(topic: topic, retain: p.retain, into: &actions) {
        case .allowed: break
        case .closed: return
        case .denied:
            if version == .v311 { return protocolViolation(.notAuthorized, into: &actions) }
            switch p.qos {
            case .atMostOnce: return
            case .atLeastOnce:
                let ack = PubAckPacket(packetID: p.packetID ?? 0, reasonCode: .notAuthorized)
                return acknowledge(.puback(ack), after: nil, into: &actions)
            case .exactlyOnce:
                let ack = PubAckPacket(packetID: p.packetID ?? 0, reasonCode: .notAuthorized)
                return acknowledge(.pubrec(ack), after: nil, into: &actions)
            }
        }

        if p.properties.payloadFormatIndicator == 1 && !p.payload.isValidUTF8 {
            // [MQTT-3.3.2-4] may be refused with 0x99.
            switch p.qos {
            case .atMostOnce: return protocolViolation(.payloadFormatInvalid, into: &actions)
            case .atLeastOnce:
                let ack = PubAckPacket(packetID: p.packetID ?? 0, reasonCode: .payloadFormatInvalid)
                return acknowledge(.puback(ack), after: nil, into: &actions)
            case .exactlyOnce:
                let ack = PubAckPacket(packetID: p.packetID ?? 0, reasonCode: .payloadFormatInvalid)
                return acknowledge(.pubrec(ack), after: nil, into: &actions)
            }
        }

        let message = makeMessage(topic: topic, payload: p.payload, qos: p.qos, retain: p.retain,
                                  properties: p.properties, now: now)
        switch p.qos {
        case .atMostOnce:
            publish(message, storeToken: nil, routeToken: nil, into: &actions)
        case .atLeastOnce:
            // A retained QoS 1 message is acknowledged once it is stored ([MQTT-4.3.2-2]: the receiver "owns"
            // it when it sends PUBACK), so a PUBACK means every node will hand it to later subscribers.
            let token = message.retain ? takeStoreToken() : nil
            let routeToken = acknowledgeAfterRouting ? takeStoreToken() : nil
            publish(message, storeToken: token, routeToken: routeToken, into: &actions)
            acknowledge(.puback(PubAckPacket(packetID: p.packetID ?? 0)), after: token, routed: routeToken,
                        into: &actions)
        case .exactlyOnce:
            let id = p.packetID ?? 0
            if session.inboundQoS2.contains(id) {
                // A retransmission of a message we already own: acknowledge again (unless its first PUBREC is
                // still waiting for the store — that one will go out), and do not route twice.
                if !pendingAcks.contains(where: { $0.packet == .pubrec(PubAckPacket(packetID: id)) }) {
                    acknowledge(.pubrec(PubAckPacket(packetID: id)), after: nil, into: &actions)
                }
                return
            }
            // [MQTT-3.3.4-7] more unacknowledged QoS 2 publishes than our Receive Maximum.
            if session.inboundQoS2.count >= Int(limits.receiveMaximum) {
                return protocolViolation(.receiveMaximumExceeded, into: &actions)
            }
            session.inboundQoS2.insert(id)
            let token = message.retain ? takeStoreToken() : nil
            let routeToken = acknowledgeAfterRouting ? takeStoreToken() : nil
            publish(message, storeToken: token, routeToken: routeToken, into: &actions)
            acknowledge(.pubrec(PubAckPacket(packetID: id)), after: token, routed: routeToken, into: &actions)
        }
    }

    private mutating func authorizePublish(topic: String, retain: Bool, into actions: inout [Action])
        -> AuthorizationOutcome
    {
        let outcome = authorize(.publish(topic: topic), into: &actions)
        guard outcome == .allowed, retain else { return outcome }
        return authorize(.retainPublish(topic: topic), into: &actions)
    }

    private func publish(_ message: BrokerMessage, storeToken: UInt64?, routeToken: UInt64?,
                         into actions: inout [Action]) {
        if message.retain { actions.append(.retain(message, storeToken: storeToken)) }
        actions.append(.route(message, ackToken: routeToken))
    }

    private mutating func takeStoreToken() -> UInt64 {
        defer { nextStoreToken &+= 1 }
        return nextStoreToken
    }

    /// Sends `ack` now, or queues it behind earlier acknowledgements that still wait for a store.
    private mutating func acknowledge(_ ack: MQTTPacket, after storeToken: UInt64?, routed routeToken: UInt64? = nil,
                                      into actions: inout [Action]) {
        if storeToken == nil && routeToken == nil && pendingAcks.isEmpty {
            actions.append(.send(ack))
        } else {
            pendingAcks.append(PendingAck(packet: ack, storeToken: storeToken, routeToken: routeToken))
        }
    }

    /// The message routed with `token` reached every node it was sent to (or not, after the forwarding bound).
    /// Releases the acknowledgements now due, in order; a failure answers as a failed retained store does (see
    /// ``onRetainStored(token:success:)``).
    public mutating func onRouted(token: UInt64, success: Bool) -> [Action] {
        var actions: [Action] = []
        guard phase == .connected, let i = pendingAcks.firstIndex(where: { $0.routeToken == token }) else {
            return actions
        }
        pendingAcks[i].routeToken = nil
        settle(i, success: success, into: &actions)
        return actions
    }

    /// The retained message behind `token` was stored (or not). Releases the acknowledgements now due, in order.
    /// On failure an MQTT 5 client gets the acknowledgement with 0x80 (Unspecified error) and may publish again;
    /// MQTT 3.1.1 has no negative PUBACK, so the connection closes and the client resends on reconnect.
    public mutating func onRetainStored(token: UInt64, success: Bool) -> [Action] {
        var actions: [Action] = []
        guard phase == .connected, let i = pendingAcks.firstIndex(where: { $0.storeToken == token }) else {
            return actions
        }
        pendingAcks[i].storeToken = nil
        settle(i, success: success, into: &actions)
        return actions
    }

    /// One wait of the acknowledgement at `i` is over: on failure turn it negative (v5) or close (3.1.1), then send
    /// whatever is due.
    private mutating func settle(_ i: Int, success: Bool, into actions: inout [Action]) {
        if !success {
            if version == .v311 {
                pendingAcks.removeSubrange(i...)  // the ones behind it would claim a message is stored
                releaseAcks(into: &actions)
                protocolViolation(.unspecifiedError, into: &actions)
                return
            }
            switch pendingAcks[i].packet {
            case .puback(let a):
                pendingAcks[i].packet = .puback(PubAckPacket(packetID: a.packetID, reasonCode: .unspecifiedError))
            case .pubrec(let a):
                session.inboundQoS2.remove(a.packetID)  // a failed PUBREC ends the exchange [MQTT-4.3.3]
                pendingAcks[i].packet = .pubrec(PubAckPacket(packetID: a.packetID, reasonCode: .unspecifiedError))
            default:
                break
            }
        }
        releaseAcks(into: &actions)
    }

    private mutating func releaseAcks(into actions: inout [Action]) {
        var released = 0
        while released < pendingAcks.count, pendingAcks[released].ready {
            actions.append(.send(pendingAcks[released].packet))
            released += 1
        }
        pendingAcks.removeFirst(released)
    }

    mutating func onPubRel(_ a: PubAckPacket, into actions: inout [Action]) {
        if session.inboundQoS2.remove(a.packetID) != nil {
            actions.append(.send(.pubcomp(PubAckPacket(packetID: a.packetID))))
        } else {
            actions.append(.send(.pubcomp(PubAckPacket(packetID: a.packetID, reasonCode: .packetIdentifierNotFound))))
        }
    }

    // MARK: - Acknowledgements of our deliveries

    mutating func onPubAck(_ a: PubAckPacket, now: Timestamp, into actions: inout [Action]) {
        if let e = session.inflight[a.packetID], e.phase == .awaitingPubAck {
            session.inflight[a.packetID] = nil
            drainPending(now: now, into: &actions)
        }
        // An unknown id is ignored: it may be a late ack for a message resent after a takeover.
    }

    mutating func onPubRec(_ a: PubAckPacket, now: Timestamp, into actions: inout [Action]) {
        guard let e = session.inflight[a.packetID], e.phase == .awaitingPubRec else {
            actions.append(.send(.pubrel(PubAckPacket(packetID: a.packetID, reasonCode: .packetIdentifierNotFound))))
            return
        }
        if a.reasonCode.isFailure {
            // [MQTT-4.3.3] a failed PUBREC ends the exchange.
            session.inflight[a.packetID] = nil
            drainPending(now: now, into: &actions)
            return
        }
        session.inflight[a.packetID]?.phase = .awaitingPubComp
        actions.append(.send(.pubrel(PubAckPacket(packetID: a.packetID))))
    }

    mutating func onPubComp(_ a: PubAckPacket, now: Timestamp, into actions: inout [Action]) {
        if let e = session.inflight[a.packetID], e.phase == .awaitingPubComp {
            session.inflight[a.packetID] = nil
            drainPending(now: now, into: &actions)
        }
    }

    // MARK: - Deliveries to the client

    /// The broker routed a message to this session.
    public mutating func onDeliver(_ outbound: OutboundMessage, now: Timestamp) -> [Action] {
        var actions: [Action] = []
        switch phase {
        case .opening: bufferedDeliveries.append(outbound)
        case .connected: deliver(outbound, now: now, into: &actions)
        case .awaitingConnect, .closed:
            // The connection is going away; the broker will queue for the parked session from now on.
            // QoS 1/2 arriving in this window are kept in the session so nothing acknowledged is lost.
            if outbound.qos > .atMostOnce && !sessionEnded {
                if !session.enqueue(outbound, limit: limits.maxQueuedMessages) { actions.append(.dropped(.queueFull)) }
            }
        }
        return actions
    }

    mutating func deliver(_ outbound: OutboundMessage, now: Timestamp, into actions: inout [Action]) {
        if outbound.message.isExpired(at: now) {
            actions.append(.dropped(.expired))
            return
        }
        // `iot:Receive`, at every delivery: a denied message is left out for this subscriber only.
        guard authorize(.receive(topic: outbound.message.topic), into: &actions) == .allowed else { return }
        if outbound.qos == .atMostOnce {
            actions.append(.send(.publish(publishPacket(outbound, packetID: nil, dup: false, now: now))))
            return
        }
        // Keep order: if anything is queued, this one queues behind it ([MQTT-4.6.0-6]).
        if session.inflight.count >= sendQuota || !session.pending.isEmpty {
            if !session.enqueue(outbound, limit: limits.maxQueuedMessages) { actions.append(.dropped(.queueFull)) }
            if session.inflight.count < sendQuota { drainPending(now: now, into: &actions) }
            return
        }
        send(outbound, now: now, into: &actions)
    }

    private mutating func send(_ outbound: OutboundMessage, now: Timestamp, into actions: inout [Action]) {
        guard let id = session.allocatePacketID() else {
            if !session.enqueue(outbound, limit: limits.maxQueuedMessages) { actions.append(.dropped(.queueFull)) }
            return
        }
        let phase: SessionState.InflightPhase = outbound.qos == .atLeastOnce ? .awaitingPubAck : .awaitingPubRec
        session.inflight[id] = SessionState.Inflight(outbound: outbound, phase: phase, sequence: session.nextSequence)
        session.nextSequence &+= 1
        actions.append(.send(.publish(publishPacket(outbound, packetID: id, dup: false, now: now))))
    }

    mutating func drainPending(now: Timestamp, into actions: inout [Action]) {
        while phase == .connected && session.inflight.count < sendQuota, let next = session.pending.popFirst() {
            if next.message.isExpired(at: now) {
                actions.append(.dropped(.expired))
                continue
            }
            switch authorize(.receive(topic: next.message.topic), into: &actions) {
            case .allowed: break
            case .denied: continue
            case .closed: return
            }
            if next.qos == .atMostOnce {
                actions.append(.send(.publish(publishPacket(next, packetID: nil, dup: false, now: now))))
            } else {
                send(next, now: now, into: &actions)
            }
        }
    }

    /// The PUBLISH for one delivery: remaining Message Expiry ([MQTT-3.3.2-6]) and an outbound topic alias when
    /// the client accepts them (assigned first come, first served; never reassigned within a connection).
    mutating func publishPacket(_ o: OutboundMessage, packetID: UInt16?, dup: Bool, now: Timestamp) -> PublishPacket {
        var props = MQTTProperties()
        var topic = o.message.topic
        if version == .v5 {
            props = o.message.properties
            if let e = o.message.expiresAt {
                props.append(.messageExpiryInterval(UInt32(clamping: now.secondsUntil(e))))
            }
            if clientTopicAliasMaximum > 0 {
                if let alias = outboundAliases[topic] {
                    props.append(.topicAlias(alias))
                    topic = ""
                } else if outboundAliases.count < Int(clientTopicAliasMaximum) {
                    let alias = UInt16(outboundAliases.count + 1)
                    outboundAliases[topic] = alias
                    props.append(.topicAlias(alias))
                }
            }
        }
        return PublishPacket(topic: topic, payload: o.message.payload, qos: o.qos, retain: o.retain,
                             dup: dup && o.qos > .atMostOnce, packetID: packetID, properties: props)
    }
}
