import IoTTypes
import MQTTCodec
import TopicTrie

extension SessionStateMachine {
    // MARK: - SUBSCRIBE

    mutating func onSubscribe(_ s: SubscribePacket, into actions: inout [Action]) {
        if !s.properties.subscriptionIdentifiers.isEmpty {
            // Subscription Identifier Available = 0 in our CONNACK ([MQTT-3.8.2-2] via AWS IoT's choice).
            return protocolViolation(.subscriptionIdentifiersNotSupported, into: &actions)
        }
        var codes: [ReasonCode] = []
        var after: [Action] = []
        for (index, sub) in s.subscriptions.enumerated() {
            if index >= limits.maxFiltersPerSubscribe {
                codes.append(.quotaExceeded)
                continue
            }
            let filter: TopicFilter
            do {
                filter = try Topic.parseFilter(sub.filter, limits: limits.topic)
            } catch {
                codes.append(.topicFilterInvalid)
                continue
            }
            if filter.shareGroup != nil && sub.options.noLocal {
                // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
                return protocolViolation(.protocolError, into: &actions)
            }
            // `iot:Subscribe` on the literal filter: refused for this filter only (v5 0x87, 3.1.1 0x80).
            switch authorize(.subscribe(filter: sub.filter), into: &actions) {
            case .allowed: break
            case .denied:
                codes.append(.notAuthorized)
                continue
            case .closed: return
            }
            let existed = session.subscriptions[sub.filter] != nil
            if !existed && session.subscriptions.count >= limits.maxSubscriptionsPerSession {
                codes.append(.quotaExceeded)
                continue
            }
            var options = sub.options
            options.qos = min(options.qos, limits.maxQoS)
            session.subscriptions[sub.filter] = SessionState.Subscription(filter: filter, options: options)
            after.append(.addSubscription(filter, options))
            // [MQTT-3.3.1-9..11] retained messages on subscribe, never for shared subscriptions ([MQTT-4.8.2-?]).
            let sendRetained: Bool
            switch options.retainHandling {
            case .sendOnSubscribe: sendRetained = true
            case .sendIfNewSubscription: sendRetained = !existed
            case .doNotSend: sendRetained = false
            }
            if sendRetained && filter.shareGroup == nil {
                after.append(.deliverRetained(filter, options))
            }
            codes.append(ReasonCode(options.qos.rawValue))
        }
        // Routing entries first, then SUBACK, then retained messages ([MQTT-3.8.4-1]: SUBACK before them).
        let adds = after.filter { if case .addSubscription = $0 { return true } else { return false } }
        let retained = after.filter { if case .deliverRetained = $0 { return true } else { return false } }
        actions.append(contentsOf: adds)
        actions.append(.send(.suback(SubAckPacket(packetID: s.packetID, reasonCodes: codes))))
        actions.append(contentsOf: retained)
    }

    // MARK: - UNSUBSCRIBE

    mutating func onUnsubscribe(_ u: UnsubscribePacket, into actions: inout [Action]) {
        var codes: [ReasonCode] = []
        for raw in u.filters {
            guard let filter = try? Topic.parseFilter(raw, limits: limits.topic) else {
                codes.append(.topicFilterInvalid)
                continue
            }
            if session.subscriptions.removeValue(forKey: raw) != nil {
                actions.append(.removeSubscription(filter))
                codes.append(.success)
            } else {
                codes.append(.noSubscriptionExisted)
            }
        }
        actions.append(.send(.unsuback(UnsubAckPacket(packetID: u.packetID, reasonCodes: codes))))
    }
}
