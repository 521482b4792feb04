import Testing

@testable import Gossip

/// The state machine on its own: events in, directives out, no network.
@Suite struct MembershipTests {
    @Test func pingAckPathKeepsEveryoneAlive() {
        var m = member(knowing: [2, 3, 4], app: GrowSet(owner: 1))
        #expect(m.app.memberCalls == [2, 3, 4].map { GrowSet.MemberCall(node: $0, alive: true) })
        let out = pump(&m, from: 0, to: 10_000)
        let pings = sent(out).filter { if case .ping = $0.datagram.message { true } else { false } }
        // One probe per protocol period, round-robin: every member probed at least twice in ten periods.
        #expect(pings.count >= 9 && pings.count <= 10)
        for target in [2, 3, 4] as [GossipNodeID] { #expect(pings.filter { id(of: $0.to) == target }.count >= 3) }
        #expect(m.aliveMembers == [1, 2, 3, 4])
        #expect(m.awareness == 0)
        #expect(m.counters.probeFailures == 0)
        #expect(sent(out).allSatisfy { if case .pingReq = $0.datagram.message { false } else { true } })
    }

    @Test func indirectProbeThroughOthersAndNacks() {
        var m = member(knowing: [2, 3, 4, 5], app: NoApp())
        // Find the first probe and stay silent.
        var t: UInt64 = 0
        var probe: (target: GossipNodeID, seq: UInt32)?
        while probe == nil, t < 2_000 {
            for (to, dg) in sent(m.tick(now: t)) {
                if case .ping(let seq, _, let target) = dg.message { probe = (target, seq); #expect(id(of: to) == target) }
            }
            t += 10
        }
        let (target, seq) = try! #require(probe)
        let pingAt = t - 10
        // Before the probe timeout: nothing; at it: ping-req to the three others.
        #expect(sent(m.tick(now: pingAt + 499)).isEmpty)
        let reqs = sent(m.tick(now: pingAt + 500)).filter { if case .pingReq = $0.datagram.message { true } else { false } }
        #expect(reqs.count == 3)
        #expect(Set(reqs.map { id(of: $0.to) }) == Set([2, 3, 4, 5].filter { $0 != target }))
        for r in reqs {
            #expect(r.datagram.message == .pingReq(seq: seq, sender: 1, target: target, targetAddress: addr(target)))
        }
        // Two relays answer nack, one relays the target's ack: the probe succeeds, no suspicion.
        _ = m.receive(datagram: GossipWire.encode(.nack(seq: seq, sender: 2)), from: reqs[0].to, now: pingAt + 600)
        _ = m.receive(datagram: GossipWire.encode(.nack(seq: seq, sender: 3)), from: reqs[1].to, now: pingAt + 610)
        _ = m.receive(datagram: GossipWire.encode(.ack(seq: seq, sender: target)), from: reqs[2].to, now: pingAt + 700)
        #expect(m.counters.nacksReceived == 2)
        let out = m.tick(now: pingAt + 1_000)
        #expect(events(out).isEmpty)
        #expect(m.member(target)?.state == .alive)
        #expect(m.counters.probeFailures == 0)
    }

    @Test func relaysPingReqAndAnswersNackOnSilence() {
        var relay = member(knowing: [2, 3], app: NoApp())
        _ = relay.tick(now: 0)
        // Member 2 asks us to probe 3 (seq 41).
        let out = relay.receive(
            datagram: GossipWire.encode(.pingReq(seq: 41, sender: 2, target: 3, targetAddress: addr(3))), from: addr(2),
            now: 100)
        let pings = sent(out)
        #expect(pings.count == 1)
        #expect(pings[0].to == addr(3))
        guard case .ping(let relaySeq, 1, 3) = pings[0].datagram.message else {
            Issue.record("expected a ping to 3, got \(pings[0].datagram.message)")
            return
        }
        // The target acks: the relay forwards an ack with the requester's sequence number.
        let forwarded = sent(relay.receive(datagram: GossipWire.encode(.ack(seq: relaySeq, sender: 3)), from: addr(3), now: 150))
        #expect(forwarded.map(\.to) == [addr(2)])
        #expect(forwarded.first?.datagram.message == .ack(seq: 41, sender: 3))
        // Another request, and silence: a nack at 80% of the probe timeout.
        _ = relay.receive(
            datagram: GossipWire.encode(.pingReq(seq: 42, sender: 2, target: 3, targetAddress: addr(3))), from: addr(2),
            now: 1_000)
        let nacks = sent(relay.tick(now: 1_400)).filter { $0.datagram.message == .nack(seq: 42, sender: 1) }
        #expect(nacks.map(\.to) == [addr(2)])
    }

    @Test func silentMemberIsSuspectedThenDeadAfterLifeguardTimeout() {
        // n = 3: K = α − 2 = 2 > n − 2, so no confirmations are expected and the timeout is the minimum,
        // α × max(1, log10 3) × 1 s = 4 s.
        var m = member(knowing: [2, 3], app: GrowSet(owner: 1))
        var suspectedAt: UInt64?
        var t: UInt64 = 0
        while suspectedAt == nil, t < 5_000 {
            let out = pump(&m, from: t, to: t + 10, silent: [2])
            if events(out).contains(where: { $0.node == 2 && $0.kind == .suspect }) { suspectedAt = t }
            t += 10
        }
        let s = try! #require(suspectedAt)
        #expect(m.counters.suspicionsRaised == 1)
        #expect(m.counters.probeFailures == 1)
        pump(&m, from: s + 10, to: s + 4_000, silent: [2])
        #expect(m.member(2)?.state == .suspect)
        let out = pump(&m, from: s + 4_000, to: s + 4_010, silent: [2])
        #expect(m.member(2)?.state == .dead)
        #expect(events(out).contains(GossipMemberEvent(node: 2, kind: .dead, incarnation: 0, address: addr(2))))
        #expect(m.app.memberCalls.last == GrowSet.MemberCall(node: 2, alive: false))
        #expect(m.liveMembers == [1, 3])
    }

    /// Lifeguard local health: probes that fail with no nacks from the helpers raise the multiplier (up to 8×), so
    /// a member that cannot hear anyone slows down instead of suspecting everyone; successful probes lower it.
    @Test func localHealthScalesTheProtocolPeriod() {
        var m = member(knowing: [2, 3, 4, 5], app: NoApp())
        pump(&m, from: 0, to: 20_000, silent: [2, 3, 4, 5])
        #expect(m.awareness == 7)
        #expect(m.protocolPeriodMs == 8_000)
        let failures = m.counters.probeFailures
        // With the 8× period, at most 2 probes in the next 16 s (instead of 16).
        pump(&m, from: 20_000, to: 36_000, silent: [2, 3, 4, 5])
        #expect(m.counters.probeFailures - failures <= 2)
        // Most were declared dead (the slowed-down member did not get round to all); they come back (higher incarnations) and answer: each successful probe lowers
        // the score by one, back to 0.
        let back: [WireItem] = [2, 3, 4, 5].map { .alive(node: $0, incarnation: 1, address: addr($0)) }
        _ = m.receive(datagram: gossip(back), from: addr(3), now: 36_000)
        #expect(m.aliveMembers == [1, 2, 3, 4, 5])
        pump(&m, from: 36_000, to: 80_000)
        #expect(m.awareness == 0)
        #expect(m.protocolPeriodMs == 1_000)
    }

    /// n = 10: min = 4 × log10(10) × 1 s = 4 s, max = β × min = 24 s, K = 2. Alone, a suspicion lasts 24 s; one
    /// independent confirmation cuts it to 24 − 20·log(2)/log(3) ≈ 11.38 s; the second to the 4 s minimum.
    @Test func confirmationsShortenSuspicion() {
        func suspectedMember() -> GossipMembership<NoApp> {
            var m = member(knowing: Array(2...10), app: NoApp())
            pump(&m, from: 0, to: 1_000)
            _ = m.receive(datagram: gossip([.suspect(node: 5, incarnation: 0, from: 3)]), from: addr(3), now: 1_000)
            #expect(m.member(5)?.state == .suspect)
            return m
        }
        var alone = suspectedMember()
        pump(&alone, from: 1_010, to: 25_000)
        #expect(alone.member(5)?.state == .suspect)
        pump(&alone, from: 25_000, to: 25_020)
        #expect(alone.member(5)?.state == .dead)

        var once = suspectedMember()
        _ = once.receive(datagram: gossip([.suspect(node: 5, incarnation: 0, from: 4)], sender: 4), from: addr(4), now: 1_010)
        // The same confirmer twice counts once.
        _ = once.receive(datagram: gossip([.suspect(node: 5, incarnation: 0, from: 4)], sender: 4), from: addr(4), now: 1_020)
        pump(&once, from: 1_030, to: 1_000 + 11_370)
        #expect(once.member(5)?.state == .suspect)
        pump(&once, from: 1_000 + 11_370, to: 1_000 + 11_400)
        #expect(once.member(5)?.state == .dead)

        var twice = suspectedMember()
        _ = twice.receive(datagram: gossip([.suspect(node: 5, incarnation: 0, from: 4)], sender: 4), from: addr(4), now: 1_010)
        _ = twice.receive(datagram: gossip([.suspect(node: 5, incarnation: 0, from: 6)], sender: 6), from: addr(6), now: 2_000)
        pump(&twice, from: 2_000, to: 4_990)
        #expect(twice.member(5)?.state == .suspect)
        pump(&twice, from: 4_990, to: 5_010)
        #expect(twice.member(5)?.state == .dead)
    }

    @Test func refutesSuspicionOfItselfWithHigherIncarnation() {
        var m = member(knowing: [2, 3], app: NoApp())
        _ = m.tick(now: 0)
        _ = m.receive(datagram: gossip([.suspect(node: 1, incarnation: 0, from: 3)]), from: addr(3), now: 10)
        #expect(m.incarnation == 1)
        #expect(m.counters.refutations == 1)
        #expect(m.awareness == 1, "Lifeguard: being suspected is a sign of our own slowness")
        #expect(m.protocolPeriodMs == 2_000)
        // The next datagram out carries alive(1, 1).
        let items = sent(m.receive(datagram: GossipWire.encode(.ping(seq: 5, sender: 2, target: 1)), from: addr(2), now: 20))
            .flatMap(\.datagram.items)
        #expect(items.contains(.alive(node: 1, incarnation: 1, address: addr(1))))
        // A stale rumour (lower incarnation) changes nothing; a dead verdict at our incarnation is refuted too.
        _ = m.receive(datagram: gossip([.suspect(node: 1, incarnation: 0, from: 2)]), from: addr(2), now: 30)
        #expect(m.incarnation == 1)
        _ = m.receive(datagram: gossip([.dead(node: 1, incarnation: 1, from: 2)]), from: addr(2), now: 40)
        #expect(m.incarnation == 2)
    }

    @Test func incarnationPrecedence() {
        var m = member(knowing: [2, 3], app: GrowSet(owner: 1))
        func hear(_ item: WireItem, at t: UInt64) -> [GossipMemberEvent] {
            events(m.receive(datagram: gossip([item]), from: addr(3), now: t))
        }
        #expect(hear(.suspect(node: 2, incarnation: 0, from: 3), at: 1).map(\.kind) == [.suspect])
        #expect(hear(.alive(node: 2, incarnation: 0, address: addr(2)), at: 2).isEmpty, "suspect(i) beats alive(i)")
        #expect(hear(.alive(node: 2, incarnation: 1, address: addr(2)), at: 3).map(\.kind) == [.alive])
        #expect(hear(.dead(node: 2, incarnation: 0, from: 3), at: 4).isEmpty, "older verdict")
        #expect(hear(.dead(node: 2, incarnation: 1, from: 3), at: 5).map(\.kind) == [.dead])
        #expect(hear(.alive(node: 2, incarnation: 1, address: addr(2)), at: 6).isEmpty, "dead(i) beats alive(i)")
        #expect(hear(.suspect(node: 2, incarnation: 1, from: 3), at: 7).isEmpty)
        #expect(hear(.alive(node: 2, incarnation: 2, address: addr(2)), at: 8).map(\.kind) == [.alive])
        #expect(hear(.left(node: 2, incarnation: 2), at: 9).map(\.kind) == [.left])
        #expect(hear(.alive(node: 7, incarnation: 0, address: addr(7)), at: 10).map(\.kind) == [.joined])
        #expect(hear(.suspect(node: 8, incarnation: 0, from: 3), at: 11).isEmpty, "unknown members are not suspected")
        #expect(
            m.app.memberCalls.suffix(4)
                == [.init(node: 2, alive: false), .init(node: 2, alive: true), .init(node: 2, alive: false), .init(node: 7, alive: true)])
    }

    @Test func gracefulLeave() {
        var a = member(knowing: [2, 3, 4], app: NoApp())
        _ = a.tick(now: 0)
        let out = a.leave(now: 5)
        let datagrams = sent(out)
        #expect(datagrams.count == 3)
        #expect(datagrams.allSatisfy { $0.datagram.items.first == .left(node: 1, incarnation: 1) })
        #expect(a.hasLeft)
        #expect(a.tick(now: 10_000).isEmpty)
        #expect(a.receive(datagram: GossipWire.encode(.ping(seq: 1, sender: 2, target: 1)), from: addr(2), now: 10_001).isEmpty)

        var b = GossipMembership(id: 2, address: addr(2), seeds: [], rngSeed: 5, app: GrowSet(owner: 2))
        let reply = WirePushPull(
            isReply: true, sender: 1, senderAddress: addr(1), join: false,
            members: [WireMemberDigest(node: 1, incarnation: 0, state: .alive, address: addr(1))], appState: [])
        _ = b.handlePushPullReply(GossipWire.encode(reply), from: addr(1), now: 0)
        let evs = events(b.receive(datagram: datagrams[0].datagram.encoded, from: addr(1), now: 6))
        #expect(evs.filter { $0.node == 1 }.map(\.kind) == [.left])
        #expect(b.member(1)?.state == .left)
        #expect(b.app.memberCalls.filter { $0.node == 1 } == [.init(node: 1, alive: true), .init(node: 1, alive: false)])
    }

    @Test func joinsThroughSeedWithPushPullAndRetries() {
        var m = GossipMembership(id: 4, address: addr(4), seeds: [addr(1), addr(4)], rngSeed: 3, app: GrowSet(owner: 4))
        let first = m.tick(now: 0)
        guard case .pushPull(let to, let request) = first.first(where: { if case .pushPull = $0 { true } else { false } }) else {
            Issue.record("no join push/pull: \(first)")
            return
        }
        #expect(to == addr(1))
        #expect(m.pushPullFailed(to: to, now: 100).isEmpty)
        #expect(m.tick(now: 500).allSatisfy { if case .pushPull = $0 { false } else { true } })
        #expect(m.tick(now: 1_000).contains { if case .pushPull(addr(1), _) = $0 { true } else { false } })

        // The seed's side: answer with its view and its application state.
        var seed = GossipMembership(id: 1, address: addr(1), seeds: [], rngSeed: 4, app: GrowSet(owner: 1))
        seed.app.add(42)
        let (reply, seedOut) = seed.handlePushPull(request: request, from: addr(4), now: 1_000)
        #expect(events(seedOut).map(\.kind) == [.joined])
        let out = m.handlePushPullReply(try! #require(reply), from: addr(1), now: 1_010)
        #expect(events(out).map(\.node) == [1])
        #expect(m.aliveMembers == [1, 4])
        #expect(m.app.elements == [42])
    }

    @Test func datagramsStayUnderTheSizeLimitAndUpdatesRetireAfterTheirRetransmits() {
        var config = GossipConfiguration()
        config.maxDatagramSize = 512
        var m = member(knowing: [2, 3, 4], app: GrowSet(owner: 1), configuration: config)
        for e in 0..<200 { m.app.add(UInt64(e)) }
        var sends: [String: Int] = [:]
        var sizes: [Int] = []
        let out = pump(&m, from: 0, to: 60_000)
        for d in out {
            if case .send(_, let bytes) = d { sizes.append(bytes.count) }
        }
        for (_, dg) in sent(out) {
            for case .app(_, _, let seq, _, _) in dg.items { sends["\(seq)", default: 0] += 1 }
        }
        #expect(sizes.max()! <= 512)
        // n = 4 live: each broadcast goes out retransmitMult × ceil(log10 5) = 4 times, no more.
        #expect(sends.count == 200)
        #expect(sends.values.allSatisfy { $0 == 4 })
        #expect(m.queuedBroadcasts == 0)
    }
}

extension WireDatagram {
    var encoded: [UInt8] { GossipWire.encode(self) }
}
