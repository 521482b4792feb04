import Gossip

@testable import Gossip

func addr(_ id: GossipNodeID) -> GossipAddress { GossipAddress(host: "10.0.0.\(id)", port: 7946) }

/// The datagrams in `out`, decoded (a test failure if one does not decode).
func sent(_ out: [GossipDirective]) -> [(to: GossipAddress, datagram: WireDatagram)] {
    out.compactMap { d in
        guard case .send(let to, let bytes) = d, case .success(let dg) = GossipWire.decodeDatagram(bytes) else { return nil }
        return (to, dg)
    }
}

func events(_ out: [GossipDirective]) -> [GossipMemberEvent] {
    out.compactMap { if case .memberEvent(let e) = $0 { e } else { nil } }
}

/// A member with id 1 that knows members `others` (alive, incarnation 0), learned by a push/pull reply at t=0.
func member<App: GossipApplication>(
    knowing others: [GossipNodeID], app: App, configuration: GossipConfiguration = .init()
) -> GossipMembership<App> {
    var m = GossipMembership(id: 1, address: addr(1), seeds: [], configuration: configuration, rngSeed: 99, app: app)
    let reply = WirePushPull(
        isReply: true, sender: others.first ?? 2, senderAddress: addr(others.first ?? 2), join: false,
        members: others.map { WireMemberDigest(node: $0, incarnation: 0, state: .alive, address: addr($0)) }, appState: [])
    _ = m.handlePushPullReply(GossipWire.encode(reply), from: addr(others.first ?? 2), now: 0)
    return m
}

func gossip(_ items: [WireItem], sender: GossipNodeID = 3) -> [UInt8] {
    GossipWire.encode(WireDatagram(message: .gossip(sender: sender), items: items))
}

func id(of a: GossipAddress) -> GossipNodeID { GossipNodeID(a.host.split(separator: ".").last!)! }

/// Ticks `m` every 10 ms over `from..<to`, answering each ping to a member not in `silent` with an ack at once
/// (ping-reqs go unanswered). Returns everything the member emitted.
@discardableResult
func pump<App: GossipApplication>(
    _ m: inout GossipMembership<App>, from: UInt64, to: UInt64, silent: Set<GossipNodeID> = []
) -> [GossipDirective] {
    var all: [GossipDirective] = []
    var t = from
    while t < to {
        let out = m.tick(now: t)
        all += out
        for (to, dg) in sent(out) {
            if case .ping(let seq, _, let target) = dg.message, !silent.contains(target) {
                all += m.receive(datagram: GossipWire.encode(.ack(seq: seq, sender: target)), from: to, now: t)
            }
        }
        t += 10
    }
    return all
}
