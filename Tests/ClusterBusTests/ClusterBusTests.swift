import BusProtocol
import NetTestKit
import ClusterBus
import Logging
import NIOCore
import NIOPosix
import Testing

/// Runs `operation`, failing with `TimedOut` if it takes longer than `seconds`: every wait in these tests is bounded.
func within<T: Sendable>(_ seconds: Double, _ what: String = "operation",
                         _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimedOut(description: "\(what) did not finish within \(seconds) s")
        }
        return value
    }
}


/// Counts handler invocations, and lets a test wait until `n` have started.
actor Arrivals {
    private var count = 0
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func arrived() {
        count += 1
        waiters.removeAll { n, c in
            guard count >= n else { return false }
            c.resume()
            return true
        }
    }

    func wait(for n: Int) async {
        if count >= n { return }
        await withCheckedContinuation { waiters.append((n, $0)) }
    }
}

/// A handler that never answers: it waits until its task is cancelled (connection closed, bus shut down).
func hang(_ arrivals: Arrivals) -> BusRequestHandler {
    { _, _, _ in
        await arrivals.arrived()
        try? await Task.sleep(for: .seconds(3_600))
        return .error(code: 1, message: "cancelled")
    }
}

func echo(_ peer: PeerID, _ kind: UInt16, _ payload: ByteBuffer) async -> BusReply {
    var out = ByteBuffer(string: "\(peer.nodeID)/\(kind)/")
    out.writeImmutableBuffer(payload)
    return .ok(out)
}

let quiet: Logger = {
    var l = Logger(label: "bus-test")
    l.logLevel = .critical
    return l
}()

/// A bus on 127.0.0.1. The port comes from NetTestKit (below the ephemeral range), not from binding to 0: tests
/// restart a bus on the same port, and an ephemeral port could be taken by an outgoing connection meanwhile.
func makeBus(_ nodeID: String, port: Int? = nil, group: any EventLoopGroup,
             configure: (inout ClusterBus.Configuration) -> Void = { _ in },
             handler: @escaping BusRequestHandler = echo) async throws -> (ClusterBus, PeerAddress) {
    var config = ClusterBus.Configuration(nodeID: nodeID, host: "127.0.0.1", port: port ?? freeLoopbackPort())
    configure(&config)
    let bus = ClusterBus(configuration: config, group: group, logger: quiet, handler: handler)
    let address = try await bus.start()
    return (bus, PeerAddress(host: "127.0.0.1", port: address.port!))
}

/// The error `operation` throws, or nil if it returns.
func busError(_ operation: () async throws(BusError) -> ByteBuffer) async -> BusError? {
    do {
        _ = try await operation()
        return nil
    } catch {
        return error
    }
}

@Suite("ClusterBus on loopback", .timeLimit(.minutes(1)))
struct ClusterBusTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test("a request is answered, with the caller's node id seen by the handler")
    func requestResponse() async throws {
        let (server, address) = try await makeBus("b", group: group)
        let (client, _) = try await makeBus("a", group: group)
        let reply = try await client.request(to: address, kind: 7, payload: ByteBuffer(string: "hi"), timeout: .seconds(5))
        #expect(String(buffer: reply) == "a/7/hi")
        let again = try await client.request(to: address, kind: 8, payload: ByteBuffer(), timeout: .seconds(5))
        #expect(String(buffer: again) == "a/8/")
        #expect(client.pendingRequests(to: address) == 0)
        await client.shutdown()
        await server.shutdown()
    }

    @Test("1,000 concurrent requests on one connection, each answered with its own payload")
    func thousandConcurrent() async throws {
        let (server, address) = try await makeBus("b", group: group, handler: { _, kind, payload in
            // Answer out of order: some handlers yield before answering.
            if kind % 3 == 0 { await Task.yield() }
            return .ok(payload)
        })
        let (client, _) = try await makeBus("a", group: group)
        let n = 1_000
        let clock = ContinuousClock()
        let start = clock.now
        let mismatches = try await within(10, "1,000 requests") {
            try await withThrowingTaskGroup(of: Bool.self) { tasks in
                for i in 0..<n {
                    tasks.addTask {
                        let reply = try await client.request(
                            to: address, kind: UInt16(i % 100), payload: ByteBuffer(string: "req-\(i)"), timeout: .seconds(10))
                        return String(buffer: reply) == "req-\(i)"
                    }
                }
                var bad = 0
                for try await ok in tasks where !ok { bad += 1 }
                return bad
            }
        }
        let elapsed = clock.now - start
        print("ClusterBus: \(n) concurrent requests in \(elapsed)")
        #expect(mismatches == 0)
        #expect(client.pendingRequests(to: address) == 0)
        await client.shutdown()
        await server.shutdown()
    }

    @Test("a handler's error reaches the caller; the connection stays up")
    func handlerError() async throws {
        let (server, address) = try await makeBus("b", group: group, handler: { _, kind, payload in
            kind == 1 ? .error(code: 42, message: "not leader") : .ok(payload)
        })
        let (client, _) = try await makeBus("a", group: group)
        let error = await busError { () async throws(BusError) in
            try await client.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
        }
        #expect(error == .remote(code: 42, message: "not leader"))
        let ok = try await client.request(to: address, kind: 2, payload: ByteBuffer(string: "x"), timeout: .seconds(5))
        #expect(String(buffer: ok) == "x")
        await client.shutdown()
        await server.shutdown()
    }

    @Test("a handler that never answers: the caller times out, and the link keeps working")
    func timeout() async throws {
        let arrivals = Arrivals()
        let hanging = hang(arrivals)
        let (server, address) = try await makeBus("b", group: group, handler: { peer, kind, payload in
            kind == 0 ? await hanging(peer, kind, payload) : .ok(payload)
        })
        let (client, _) = try await makeBus("a", group: group)
        let clock = ContinuousClock()
        let start = clock.now
        let error = await busError { () async throws(BusError) in
            try await client.request(to: address, kind: 0, payload: ByteBuffer(), timeout: .milliseconds(200))
        }
        let waited = clock.now - start
        #expect(error == .timeout)
        #expect(waited >= .milliseconds(200) && waited < .seconds(3))
        #expect(client.pendingRequests(to: address) == 0)
        let ok = try await client.request(to: address, kind: 1, payload: ByteBuffer(string: "after"), timeout: .seconds(5))
        #expect(String(buffer: ok) == "after")
        await client.shutdown()
        await server.shutdown()
    }

    @Test("peer killed mid-request: connectionLost; after it restarts on the same port, requests succeed again")
    func reconnect() async throws {
        let arrivals = Arrivals()
        let (server, address) = try await makeBus("b", group: group, handler: hang(arrivals))
        let (client, _) = try await makeBus("a", group: group)
        let lost = Task {
            await busError { () async throws(BusError) in
                try await client.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(10))
            }
        }
        try await within(5, "request to arrive") { await arrivals.wait(for: 1) }
        await server.shutdown()
        let error = try await within(5, "connection loss to be noticed") { await lost.value }
        #expect(error == .connectionLost)

        let (restarted, _) = try await makeBus("b", port: address.port, group: group)
        let reply = try await client.request(to: address, kind: 2, payload: ByteBuffer(string: "back"), timeout: .seconds(5))
        #expect(String(buffer: reply) == "a/2/back")
        await client.shutdown()
        await restarted.shutdown()
    }

    @Test("nobody listening: unreachable, then reconnects once the peer is up (after a bounded backoff)")
    func unreachable() async throws {
        let (probe, address) = try await makeBus("b", group: group)
        await probe.shutdown()
        let (client, _) = try await makeBus("a", group: group) { $0.maxBackoff = .milliseconds(200) }
        for _ in 0..<3 {
            let error = await busError { () async throws(BusError) in
                try await client.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
            }
            #expect(error == .unreachable)
        }
        let (server, _) = try await makeBus("b", port: address.port, group: group)
        let reply = try await client.request(to: address, kind: 3, payload: ByteBuffer(string: "up"), timeout: .seconds(5))
        #expect(String(buffer: reply) == "a/3/up")
        await client.shutdown()
        await server.shutdown()
    }

    @Test("shutdown resumes every pending request with shuttingDown, and refuses new ones")
    func shutdownWithPending() async throws {
        let arrivals = Arrivals()
        let (server, address) = try await makeBus("b", group: group, handler: hang(arrivals))
        let (client, _) = try await makeBus("a", group: group)
        let n = 50
        let requests = Task {
            await withTaskGroup(of: BusError?.self) { tasks in
                for _ in 0..<n {
                    tasks.addTask {
                        await busError { () async throws(BusError) in
                            try await client.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(30))
                        }
                    }
                }
                return await tasks.reduce(into: [BusError?]()) { $0.append($1) }
            }
        }
        try await within(5, "\(n) requests to arrive") { await arrivals.wait(for: n) }
        #expect(client.pendingRequests(to: address) == n)
        await client.shutdown()
        let errors = try await within(5, "pending requests to be resumed") { await requests.value }
        #expect(errors.count == n)
        #expect(errors.allSatisfy { $0 == .shuttingDown })
        let after = await busError { () async throws(BusError) in
            try await client.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(1))
        }
        #expect(after == .shuttingDown)
        await server.shutdown()
    }

    @Test("bounded: frame size, pending requests per peer (local), handlers in flight per connection (peer)")
    func bounds() async throws {
        let arrivals = Arrivals()
        let (server, address) = try await makeBus("s", group: group, configure: { $0.maxInFlightPerConnection = 3 },
                                                  handler: hang(arrivals))
        let (a, _) = try await makeBus("a", group: group) {
            $0.maxPendingPerPeer = 2
            $0.maxFrameSize = 1_024
        }
        let (b, _) = try await makeBus("b", group: group)
        let tooBig = await busError { () async throws(BusError) in
            try await a.request(to: address, kind: 1, payload: ByteBuffer(repeating: 0, count: 2_000), timeout: .seconds(1))
        }
        #expect(tooBig == .payloadTooLarge(size: 2_019, limit: 1_024))

        @Sendable func hung(_ bus: ClusterBus, _ count: Int) async -> [BusError?] {
            await withTaskGroup(of: BusError?.self) { tasks in
                for _ in 0..<count {
                    tasks.addTask {
                        await busError { () async throws(BusError) in
                            try await bus.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(30))
                        }
                    }
                }
                return await tasks.reduce(into: [BusError?]()) { $0.append($1) }
            }
        }
        // Client a: 2 pending fill its limit; a 3rd is refused before it is sent.
        let hungA = Task { await hung(a, 2) }
        try await within(5, "a's 2 requests to arrive") { await arrivals.wait(for: 2) }
        let local = await busError { () async throws(BusError) in
            try await a.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
        }
        #expect(local == .overloaded)
        // Client b: the server runs 3 at once on b's connection; a 4th is refused by the peer.
        let hungB = Task { await hung(b, 3) }
        try await within(5, "b's 3 requests to arrive") { await arrivals.wait(for: 5) }
        let remote = await busError { () async throws(BusError) in
            try await b.request(to: address, kind: 1, payload: ByteBuffer(), timeout: .seconds(5))
        }
        #expect(remote == .overloaded)

        await a.shutdown()
        await b.shutdown()
        let ended = try await within(5, "hung requests to end") { await hungA.value + hungB.value }
        #expect(ended.count == 5 && ended.allSatisfy { $0 == .shuttingDown })
        await server.shutdown()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opt-in throughput figure (`BUS_BENCH=1 swift test --filter throughput`): 100-byte requests echoed back, with a
/// fixed number of callers each keeping one request outstanding.
@Suite("ClusterBus throughput (BUS_BENCH=1)", .serialized, .enabled(if: getenv("BUS_BENCH") != nil))
struct ClusterBusThroughput {
    @Test("echo requests/s at 1, 16 and 256 outstanding", arguments: [1, 16, 256])
    func throughput(outstanding: Int) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let (server, address) = try await makeBus("b", group: group, handler: { _, _, payload in .ok(payload) })
        let (client, _) = try await makeBus("a", group: group)
        let payload = ByteBuffer(repeating: 7, count: 100)
        _ = try await client.request(to: address, kind: 1, payload: payload, timeout: .seconds(5))  // connect
        let total = 40_000
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<outstanding {
                tasks.addTask {
                    for _ in 0..<(total / outstanding) {
                        _ = try await client.request(to: address, kind: 1, payload: payload, timeout: .seconds(10))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("ClusterBus throughput: \(outstanding) outstanding → \(Int(Double(total) / seconds)) requests/s")
        await client.shutdown()
        await server.shutdown()
    }
}
