import Broker
import ClusterRouting
import IoTTypes
import Logging
import MQTTCodec
import NIOCore
import Synchronization
import Testing

let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
let acme = TenantID("111111111111")

func message(_ topic: String, qos: QoS = .atLeastOnce, payload: String = "hello", properties: MQTTProperties = [],
             expiresAt: Timestamp? = nil) -> BrokerMessage {
    BrokerMessage(tenant: acme, topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: false,
                  properties: properties, expiresAt: expiresAt, publisherClientID: "pub-1")
}

@Suite struct ForwardedMessageWireTests {
    let now = Timestamp.seconds(5000)

    @Test("a batch round-trips: properties, QoS, retain, groups, remaining expiry re-anchored")
    func roundTrip() throws {
        let props: MQTTProperties = [
            .payloadFormatIndicator(1), .contentType("application/json"), .responseTopic("r/1"),
            .correlationData(ByteBuffer(bytes: [0, 1, 2, 255])), .userProperty("k", "v"), .userProperty("k", "w"),
        ]
        var m1 = message("a/b", qos: .exactlyOnce, properties: props, expiresAt: now.adding(seconds: 30))
        m1.retain = true
        let m2 = message("ü/ß", qos: .atMostOnce, payload: "")
        let batch = [
            ForwardedMessage(message: m1, groups: [SharedGroupKey(group: "g", filter: "a/+")]),
            ForwardedMessage(message: m2, groups: []),
        ]
        let (wire, raw) = ForwardedMessageWire.encode(batch, now: now)
        #expect(raw + 2 == wire.readableBytes)  // small: not compressed
        let later = Timestamp.seconds(9000)  // the receiver's clock reads differently
        let back = try ForwardedMessageWire.decode(wire, now: later)
        var expected = batch
        expected[0].message.expiresAt = later.adding(seconds: 30)
        #expect(back == expected)
    }

    @Test("large bodies are LZ4-compressed and come back intact")
    func compressed() throws {
        let big = String(repeating: "temperature=21.5;", count: 500)
        let batch = (0..<10).map { ForwardedMessage(message: message("t/\($0)", payload: big), groups: []) }
        let (wire, raw) = ForwardedMessageWire.encode(batch, now: now)
        #expect(wire.readableBytes < raw / 4)
        #expect(try ForwardedMessageWire.decode(wire, now: now) == batch)
    }

    @Test("malformed input is an error, never a crash: every truncation, and corrupted headers")
    func malformed() {
        let batch = [ForwardedMessage(message: message("a/b", properties: [.contentType("x")]),
                                      groups: [SharedGroupKey(group: "g", filter: "a/b")])]
        let (wire, _) = ForwardedMessageWire.encode(batch, now: now)
        let bytes = Array(wire.readableBytesView)
        for n in 0..<bytes.count {
            #expect(throws: ForwardingError.self) { try ForwardedMessageWire.decode(ByteBuffer(bytes: bytes[..<n]), now: now) }
        }
        #expect(throws: ForwardingError.self) { try ForwardedMessageWire.decode(ByteBuffer(bytes: bytes + [0]), now: now) }
        var badVersion = bytes
        badVersion[0] = 9
        #expect(throws: ForwardingError.self) { try ForwardedMessageWire.decode(ByteBuffer(bytes: badVersion), now: now) }
        var badFlags = bytes
        badFlags[1] = 0x80
        #expect(throws: ForwardingError.self) { try ForwardedMessageWire.decode(ByteBuffer(bytes: badFlags), now: now) }
        var lyingCount = bytes
        lyingCount[2...5] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: ForwardingError.self) { try ForwardedMessageWire.decode(ByteBuffer(bytes: lyingCount), now: now) }
        // A compressed flag over garbage.
        #expect(throws: ForwardingError.self) {
            try ForwardedMessageWire.decode(ByteBuffer(bytes: [1, 1, 0, 0, 0, 10, 1, 2, 3]), now: now)
        }
        // Random bytes never crash.
        var seed: UInt64 = 7
        for _ in 0..<2000 {
            var junk: [UInt8] = [1, 0]
            for _ in 0..<Int(seed % 40) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                junk.append(UInt8(truncatingIfNeeded: seed >> 33))
            }
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            _ = try? ForwardedMessageWire.decode(ByteBuffer(bytes: junk), now: now)
        }
    }
}

/// A transport the test answers by hand: each request waits until the test releases it.
final class ManualTransport: Sendable {
    struct Call: Sendable {
        let payload: ByteBuffer
        let answer: CheckedContinuation<Result<ByteBuffer, ForwardingError>, Never>
        var messages: [ForwardedMessage] { (try? ForwardedMessageWire.decode(payload, now: .zero)) ?? [] }
        func accept() { answer.resume(returning: .success(ForwardedMessageWire.encodeAnswer(accepted: messages.count))) }
        func fail() { answer.resume(returning: .failure(.transport("test"))) }
    }
    let calls: AsyncStream<Call>
    let sink: AsyncStream<Call>.Continuation

    init() { (calls, sink) = AsyncStream.makeStream(of: Call.self) }

    var transport: ForwardLink.Transport {
        { [sink] (payload: ByteBuffer) async throws(ForwardingError) -> ByteBuffer in
            let result = await withCheckedContinuation { c in sink.yield(Call(payload: payload, answer: c)) }
            return try result.get()
        }
    }
}

/// Collects completion results.
final class Results: Sendable {
    let values = Mutex<[Bool]>([])
    func record(_ ok: Bool) { values.withLock { $0.append(ok) } }
    var all: [Bool] { values.withLock { $0 } }
    let stream: AsyncStream<Bool>
    let sink: AsyncStream<Bool>.Continuation
    init() { (stream, sink) = AsyncStream.makeStream(of: Bool.self) }
    var completion: @Sendable (Bool) -> Void { { [self] ok in record(ok); sink.yield(ok) } }
    func next(_ n: Int) async -> [Bool] {
        var out: [Bool] = []
        for await v in stream {
            out.append(v)
            if out.count == n { break }
        }
        return out
    }
}

@Suite struct ForwardLinkTests {
    func link(_ t: ManualTransport, configure: (inout ForwardLink.Limits) -> Void = { _ in }) -> ForwardLink {
        var limits = ForwardLink.Limits()
        limits.maxInFlight = 1
        // No message may expire on its own here: on a starved machine 5 s pass before the drain task runs, and an
        // expired message is failed unsent — the test would then wait forever for a request that never comes.
        limits.queueTimeout = .seconds(3600)
        configure(&limits)
        return ForwardLink(peer: 2, limits: limits, metrics: ForwardingMetrics().peer(2), logger: quiet,
                           transport: t.transport)
    }

    @Test("group commit: the first message goes alone at once, the ones behind it share the next request")
    func batching() async {
        let t = ManualTransport()
        let l = link(t)
        let results = Results()
        var calls = t.calls.makeAsyncIterator()
        l.send(message("a"), groups: [], completion: results.completion)
        let first = await calls.next()!
        #expect(first.messages.map(\.message.topic) == ["a"])
        for i in 0..<5 { l.send(message("b\(i)"), groups: [], completion: results.completion) }
        #expect(l.queueDepth == 5)
        first.accept()
        let second = await calls.next()!
        #expect(second.messages.map(\.message.topic) == ["b0", "b1", "b2", "b3", "b4"])
        second.accept()
        #expect(await results.next(6) == Array(repeating: true, count: 6))
        #expect(l.requests.load(ordering: .relaxed) == 2)
    }

    @Test("bounds: QoS 0 over the bound is dropped and counted; QoS 1 is admitted (flow-controlled), then refused past twice the bound")
    func bounds() async {
        let t = ManualTransport()
        let l = link(t) { $0.maxQueuedMessages = 2 }
        let results = Results()
        var calls = t.calls.makeAsyncIterator()
        l.send(message("in-flight"), groups: [], completion: results.completion)
        let first = await calls.next()!
        l.send(message("q0", qos: .atMostOnce), groups: [], completion: nil)
        l.send(message("q1", qos: .atMostOnce), groups: [], completion: nil)
        l.send(message("drop", qos: .atMostOnce), groups: [], completion: nil)
        #expect(l.dropped.load(ordering: .relaxed) == 1)
        l.send(message("qos1-a"), groups: [], completion: results.completion)
        l.send(message("qos1-b"), groups: [], completion: results.completion)
        #expect(l.queueDepth == 4)  // over the soft bound: QoS 1 waits, its publisher's ack with it
        l.send(message("qos1-refused"), groups: [], completion: results.completion)
        #expect(await results.next(1) == [false])  // refused at once, not silently
        #expect(l.failed.load(ordering: .relaxed) == 1)
        first.accept()
        let second = await calls.next()!
        #expect(second.messages.map(\.message.topic) == ["q0", "q1", "qos1-a", "qos1-b"])
        second.accept()
        #expect(await results.next(3) == [true, true, true])
    }

    @Test("a failed request fails each QoS 1/2 completion once, counted")
    func failure() async {
        let t = ManualTransport()
        let l = link(t)
        let results = Results()
        var calls = t.calls.makeAsyncIterator()
        l.send(message("x"), groups: [], completion: results.completion)
        (await calls.next()!).fail()
        #expect(await results.next(1) == [false])
        #expect(l.failed.load(ordering: .relaxed) == 1)
    }

    @Test("close fails what is queued")
    func close() async {
        let t = ManualTransport()
        let l = link(t)
        let results = Results()
        var calls = t.calls.makeAsyncIterator()
        l.send(message("x"), groups: [], completion: results.completion)
        let first = await calls.next()!
        l.send(message("y"), groups: [], completion: results.completion)
        l.close()
        #expect(await results.next(1) == [false])
        first.accept()
        #expect(await results.next(1) == [true])
        l.send(message("z"), groups: [], completion: results.completion)
        #expect(await results.next(1) == [false])
    }
}
