// Seed corpus for the fuzzer: valid packets of every type and version, alone and as CONNECT-first streams,
// encoded with MQTTEncoder. Written by `FLOTILLA_FUZZ_WRITE_SEEDS=<dir> MQTTCodecFuzzer` (run.sh does this).
import MQTTCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func text(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

private let user: MQTTProperty = .userProperty("key", "välue")

/// Packets a server receives, for `v`; the first is a CONNECT with a Will and credentials.
func clientPackets(_ v: ProtocolVersion) -> [MQTTPacket] {
    let v5 = v == .v5
    var packets: [MQTTPacket] = [
        .connect(ConnectPacket(
            protocolVersion: v, cleanStart: true, keepAlive: 60, clientID: "thing-1",
            will: WillMessage(topic: "dt/will", payload: text("bye"), qos: .atLeastOnce, retain: true,
                              properties: v5 ? [.willDelayInterval(5), .contentType("text/plain"), user] : []),
            username: "user", password: text("secret"),
            properties: v5 ? [.sessionExpiryInterval(60), .receiveMaximum(10), .maximumPacketSize(4096),
                              .topicAliasMaximum(5), .requestProblemInformation(1),
                              .authenticationMethod("m"), .authenticationData(text("d")), user] : [])),
        .publish(PublishPacket(topic: "a/b", payload: text("hello"), qos: .atMostOnce)),
        .publish(PublishPacket(topic: "a/b/c", payload: text("{\"t\":1}"), qos: .atLeastOnce, retain: true,
                               packetID: 1,
                               properties: v5 ? [.payloadFormatIndicator(1), .messageExpiryInterval(9),
                                                 .topicAlias(2), .responseTopic("r"), .correlationData(text("c")),
                                                 .subscriptionIdentifier(7), user] : [])),
        .publish(PublishPacket(topic: "q2", payload: ByteBuffer(), qos: .exactlyOnce, dup: true, packetID: 2)),
        .puback(PubAckPacket(packetID: 1)),
        .pubrec(PubAckPacket(packetID: 2)),
        .pubrel(PubAckPacket(packetID: 2)),
        .pubcomp(PubAckPacket(packetID: 2)),
        .subscribe(SubscribePacket(packetID: 3, subscriptions: [
            TopicSubscription(filter: "a/+", options: SubscriptionOptions(qos: .atLeastOnce)),
            TopicSubscription(filter: "$share/g/#", options: SubscriptionOptions(
                qos: .exactlyOnce, noLocal: v5, retainAsPublished: v5, retainHandling: v5 ? .doNotSend : .sendOnSubscribe)),
        ], properties: v5 ? [.subscriptionIdentifier(300), user] : [])),
        .unsubscribe(UnsubscribePacket(packetID: 4, filters: ["a/+", "b"], properties: v5 ? [user] : [])),
        .pingreq,
        .disconnect(DisconnectPacket()),
    ]
    if v5 {
        packets += [
            .puback(PubAckPacket(packetID: 1, reasonCode: .noMatchingSubscribers, properties: [.reasonString("x")])),
            .pubrel(PubAckPacket(packetID: 2, reasonCode: .packetIdentifierNotFound)),
            .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage,
                                         properties: [.sessionExpiryInterval(0), user])),
            .auth(AuthPacket(reasonCode: .continueAuthentication,
                             properties: [.authenticationMethod("m"), .authenticationData(text("d"))])),
        ]
    }
    return packets
}

/// Packets a client receives, for `v`.
func serverPackets(_ v: ProtocolVersion) -> [MQTTPacket] {
    let v5 = v == .v5
    return [
        .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success,
                               properties: v5 ? [.assignedClientIdentifier("auto"), .maximumQoS(1),
                                                 .retainAvailable(1), .serverKeepAlive(30),
                                                 .wildcardSubscriptionAvailable(1),
                                                 .sharedSubscriptionAvailable(0),
                                                 .subscriptionIdentifierAvailable(1),
                                                 .responseInformation("ri"), .serverReference("s"),
                                                 .reasonString("ok"), user] : [])),
        .connack(ConnAckPacket(reasonCode: .notAuthorized)),
        .suback(SubAckPacket(packetID: 3, reasonCodes: [.grantedQoS1, .unspecifiedError],
                             properties: v5 ? [.reasonString("s")] : [])),
        .unsuback(UnsubAckPacket(packetID: 4, reasonCodes: v5 ? [.success, .noSubscriptionExisted] : [])),
        .pingresp,
        .publish(PublishPacket(topic: "down", payload: text("x"), qos: .atLeastOnce, packetID: 9)),
    ]
}

private func encoded(_ packets: [MQTTPacket], _ v: ProtocolVersion) -> [UInt8] {
    var buffer = ByteBuffer()
    for p in packets { MQTTEncoder.encode(p, version: v, into: &buffer) }
    return Array(buffer.readableBytesView)
}

/// Writes one file per seed into `dir` (created if needed) and returns how many were written.
func writeSeeds(to dir: String) -> Int {
    mkdir(dir, 0o755)
    var seeds: [[UInt8]] = []
    for v in [ProtocolVersion.v311, .v5] {
        let client = clientPackets(v)
        let server = serverPackets(v)
        seeds.append(encoded(client, v))  // CONNECT-first stream
        seeds.append(encoded(server, v))
        for p in client + server { seeds.append(encoded([p], v)) }
    }
    for (i, seed) in seeds.enumerated() {
        guard let file = fopen("\(dir)/seed-\(i)", "wb") else { continue }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    return seeds.count
}
