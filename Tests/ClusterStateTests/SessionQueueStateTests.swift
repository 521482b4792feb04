import IoTTypes
import MQTTCodec
import Testing

@testable import ClusterState

extension ClusterCommand {
    var isSessionQueueCommand: Bool {
        switch self {
        case .appendSessionQueue, .trimSessionQueue, .dropSessionQueue: true
        default: false
        }
    }
}

@Suite("Replicated session queues (issue 7)")
struct SessionQueueStateTests {
    @Test("appends get growing positions; the queue keeps at most `limit` and counts the rest as dropped")
    func boundedAppend() {
        var h = Harness()
        let ms = (1...5).map { queued(acme, "t/\($0)", UInt8($0)) }
        #expect(h.apply(.appendSessionQueue(tenant: acme, clientID: "c", messages: Array(ms.prefix(3)), limit: 4))
            == .success(.done))
        #expect(h.apply(.appendSessionQueue(tenant: acme, clientID: "c", messages: Array(ms.suffix(2)), limit: 4))
            == .success(.done))
        let q = h.state.sessionQueue(tenant: acme, clientID: "c")!
        #expect(q.entries.map(\.position) == [1, 2, 3, 4])
        #expect(q.entries.map(\.message.message.topic) == ["t/1", "t/2", "t/3", "t/4"])
        #expect(q.dropped == 1)
        #expect(q.nextPosition == 5)
        #expect(h.state.sessionQueue(tenant: globex, clientID: "c") == nil)  // tenant first
    }

    @Test("trim removes up to and including a position; later appends keep counting from where they were")
    func trimThrough() {
        var h = Harness()
        let ms = (1...3).map { queued(acme, "t/\($0)", UInt8($0)) }
        _ = h.apply(.appendSessionQueue(tenant: acme, clientID: "c", messages: ms, limit: 10))
        _ = h.apply(.trimSessionQueue(tenant: acme, clientID: "c", through: 2))
        #expect(h.state.sessionQueue(tenant: acme, clientID: "c")!.entries.map(\.position) == [3])
        _ = h.apply(.trimSessionQueue(tenant: acme, clientID: "c", through: UInt64.max))
        #expect(h.state.sessionQueue(tenant: acme, clientID: "c")!.entries.isEmpty)
        _ = h.apply(.appendSessionQueue(tenant: acme, clientID: "c", messages: [ms[0]], limit: 10))
        #expect(h.state.sessionQueue(tenant: acme, clientID: "c")!.entries.map(\.position) == [4])
        // Trimming a queue that does not exist is not an error.
        #expect(h.apply(.trimSessionQueue(tenant: acme, clientID: "none", through: 9)) == .success(.done))
    }

    @Test("removing the session record drops its queue; drop forgets it; bad input is refused unchanged")
    func dropAndRefusals() {
        var h = Harness()
        _ = h.apply(.putSessionRecord(SessionEntry(tenant: acme, clientID: "c", protocolVersion: .v5,
                                                   subscriptions: ["a/#": SubscriptionOptions(qos: .atLeastOnce)],
                                                   expiryInterval: 60, disconnectedAtMs: 1)))
        _ = h.apply(.appendSessionQueue(tenant: acme, clientID: "c", messages: [queued(acme, "a/1", 1)], limit: 10))
        _ = h.apply(.appendSessionQueue(tenant: acme, clientID: "d", messages: [queued(acme, "a/1", 1)], limit: 10))
        #expect(h.apply(.removeSessionRecord(tenant: acme, clientID: "c")) == .success(.done))
        #expect(h.state.sessionQueue(tenant: acme, clientID: "c") == nil)
        #expect(h.apply(.dropSessionQueue(tenant: acme, clientID: "d")) == .success(.done))
        #expect(h.state.sessionQueue(tenant: acme, clientID: "d") == nil)
        #expect(h.state.sessionQueuedMessages == 0)
        let before = h.state.snapshot()
        if case .success = h.apply(.appendSessionQueue(tenant: acme, clientID: "", messages: [], limit: 1)) {
            Issue.record("an empty client id was accepted")
        }
        if case .success = h.apply(.appendSessionQueue(tenant: acme, clientID: "x", messages: [queued(globex, "a", 1)],
                                                      limit: 1)) {
            Issue.record("another tenant's message was accepted")
        }
        #expect(Array(h.state.snapshot().dropFirst(13)) == Array(before.dropFirst(13)))  // all but the applied index
    }

    @Test("snapshot v7 round-trips queues; a queue with out-of-order positions or a foreign tenant is malformed")
    func snapshotRoundTrip() throws {
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        let snap = h.state.snapshot()
        #expect(snap[4] == 7)
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        let q = r.sessionQueue(tenant: acme, clientID: "parked-1")!
        #expect(q.entries.map(\.position) == [2, 3])
        #expect(q.entries.map(\.message.retain) == [false, true])
        #expect(q.dropped == 1)
        #expect(r.sessionQueue(tenant: globex, clientID: "gone-1") == nil)
        #expect(r.sessionQueue(tenant: globex, clientID: "kept-1")!.entries.count == 1)
        // Tamper: the last row is globex/kept-1, one entry at position 1 (nextPosition 2); make that position 2,
        // which is not below nextPosition.
        var bad = snap
        let marker: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1]  // position 1 of kept-1, right after its entry count
        let countAndPosition: [UInt8] = [0, 0, 0, 1] + marker
        let at = try #require(lastIndex(of: countAndPosition, in: bad))
        bad[at + 11] = 2
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(bad) }
    }

    @Test("every new command round-trips through the codec; the takeover wire round-trips and refuses junk")
    func codecs() {
        for c in everyCommand where c.isSessionQueueCommand {
            #expect(ClusterCommand.decode(c.encoded()) == .success(c))
        }
        let q = SessionTakeoverWire.Request(tenant: acme, clientID: "dev-1", cleanStart: false, askingNode: 3)
        #expect(SessionTakeoverWire.decodeRequest(SessionTakeoverWire.encode(q)) == q)
        let handoff = SessionHandoff(
            protocolVersion: .v5,
            subscriptions: ["a/#": SubscriptionOptions(qos: .atLeastOnce, noLocal: true),
                            "$share/g/b": SubscriptionOptions(qos: .exactlyOnce, retainHandling: .doNotSend)],
            expiryInterval: 3600, messages: [queued(acme, "a/1", 1), queued(acme, "a/2", 2, retain: true)])
        for a in [SessionTakeoverWire.Answer.none, .discarded, .handedOver(handoff)] {
            let reply = SessionTakeoverWire.Reply(answer: a, appliedIndex: 4242)
            let bytes = SessionTakeoverWire.encode(reply)
            #expect(SessionTakeoverWire.decodeReply(bytes) == reply)
            for cut in 0..<bytes.count { #expect(SessionTakeoverWire.decodeReply(Array(bytes.prefix(cut))) == nil) }
            #expect(SessionTakeoverWire.decodeReply(bytes + [0]) == nil)
        }
        #expect(SessionTakeoverWire.decodeRequest([2] + Array(SessionTakeoverWire.encode(q).dropFirst())) == nil)
    }

    private func lastIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in stride(from: hay.count - needle.count, through: 0, by: -1) where Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
