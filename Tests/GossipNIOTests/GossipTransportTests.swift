import GossipNIO
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// The gossip's UDP side survives send errors. Before the transport sent with its own `sendto`, one refused datagram
/// (EINVAL behind a blackhole route, in the chaos suite's partitions) closed NIO's datagram channel and left the node
/// deaf and mute on UDP for good: every later probe failed and live members were declared dead over and over.
/// Here the refused send is a datagram to 255.255.255.255 without SO_BROADCAST (EACCES), which needs no privileges.
@Suite struct GossipTransportTests {
    /// A transport on 127.0.0.1 (port chosen by the kernel) and the datagrams it received.
    final class Endpoint: Sendable {
        let transport: GossipTransport
        let inbox: NIOLockedValueBox<[(bytes: [UInt8], port: Int)]>
        let arrived: NIOLockedValueBox<EventLoopPromise<Void>?>
        let port: Int

        init(group: any EventLoopGroup) async throws {
            let inbox = NIOLockedValueBox<[(bytes: [UInt8], port: Int)]>([])
            let arrived = NIOLockedValueBox<EventLoopPromise<Void>?>(nil)
            transport = GossipTransport(
                configuration: .init(host: "127.0.0.1", port: 0), group: group,
                logger: Logger(label: "test.gossip.transport"),
                onDatagram: { bytes, from in
                    inbox.withLockedValue { $0.append((bytes, from.port ?? -1)) }
                    arrived.withLockedValue { $0?.succeed(()); $0 = nil }
                },
                onPushPull: { request, _ in request })
            port = try await transport.start().port!
            self.inbox = inbox
            self.arrived = arrived
        }

        /// Waits (at most `seconds`) until `count` datagrams have arrived.
        func waitFor(_ count: Int, on loop: any EventLoop, seconds: Int64 = 5) async -> [(bytes: [UInt8], port: Int)] {
            let deadline = NIODeadline.now() + .seconds(seconds)
            while inbox.withLockedValue({ $0.count }) < count, NIODeadline.now() < deadline {
                let promise = loop.makePromise(of: Void.self)
                arrived.withLockedValue { $0 = promise }
                if inbox.withLockedValue({ $0.count }) >= count { promise.succeed(()) }
                let timer = loop.scheduleTask(deadline: deadline) { promise.succeed(()) }
                try? await promise.futureResult.get()
                timer.cancel()
            }
            return inbox.withLockedValue { $0 }
        }
    }

    @Test func aRefusedSendLeavesTheSocketUsableBothWays() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let a = try await Endpoint(group: group)
        let b = try await Endpoint(group: group)

        // Refused by the kernel: reported, and nothing else happens.
        #expect(a.transport.send([1, 2, 3], to: "255.255.255.255", port: 9) == false)
        #expect(a.transport.send([4], to: "255.255.255.255", port: 9) == false)

        // A still sends (from its own port, which the protocol answers to) and still receives.
        #expect(a.transport.send([7, 7], to: "127.0.0.1", port: b.port))
        let atB = await b.waitFor(1, on: group.next())
        #expect(atB.map(\.bytes) == [[7, 7]])
        #expect(atB.first?.port == a.port)
        #expect(b.transport.send([8], to: "127.0.0.1", port: a.port))
        let atA = await a.waitFor(1, on: group.next())
        #expect(atA.map(\.bytes) == [[8]])

        // The TCP side is untouched: push/pull echoes the request.
        let reply = try await a.transport.pushPull([5, 6], to: "127.0.0.1", port: b.port)
        #expect(reply == [5, 6])

        await a.transport.stop()
        await b.transport.stop()
        #expect(a.transport.send([9], to: "127.0.0.1", port: b.port) == false)
        try await group.shutdownGracefully()
    }
}
