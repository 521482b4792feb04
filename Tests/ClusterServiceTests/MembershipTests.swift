import ClusterBus
import ClusterNode
import ClusterState
import Logging
import NIOCore
import NIOPosix
import NetTestKit
import Testing

@testable import ClusterService

/// A node started with `.join`: it knows the trio from its static table (like `--join --peers …`); the trio
/// learns its bus address only from the node directory.
func joiner(_ id: UInt64, trio: Trio, group: any EventLoopGroup, dir: String) -> ClusterService {
    let me = ClusterServicePeer(nodeID: id, raftAddress: "127.0.0.1:\(freeLoopbackPort())",
                                busAddress: PeerAddress(host: "127.0.0.1", port: freeLoopbackPort()))
    var node = ClusterNodeConfiguration(nodeID: id, raftAddress: me.raftAddress, dataDirectory: dir)
    node.electionTimeout = .milliseconds(300)
    node.heartbeatTimeout = .milliseconds(50)
    node.connectRetryDelay = .milliseconds(50)
    node.requestTimeout = .seconds(5)
    var c = ClusterServiceConfiguration(node: node, peers: trio.services[0].configuration.peers + [me])
    c.requestTimeout = .seconds(5)
    return ClusterService(configuration: c, group: group, logger: quiet)
}

func members(_ service: ClusterService) async -> [UInt64] {
    await service.status().peers.filter { $0.role == .voter }.map(\.id).sorted()
}

@Suite("ClusterService: membership from any node", .serialized)
struct MembershipTests {
    @Test("add a node through a follower, lead with it, remove the leader through a follower; refusals")
    func addTransferRemove() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let trio = Trio(group: group)
        let dir4 = makeTempDir("svc-4")
        let four = joiner(4, trio: trio, group: group, dir: dir4)
        do {
            try await trio.start()
            try await four.start(.join)
            let leader = try await waitForLeader(trio.services)
            let followers = trio.services.filter { $0 !== leader }
            let raft4 = four.configuration.node.raftAddress
            let bus4 = four.configuration.peers.last!.busAddress

            // Added through a follower: forwarded to the leader, which writes the directory row, then the voter.
            try await followers[0].changeMembership(.add(nodeID: 4, raftAddress: raft4, busAddress: bus4))
            for s in trio.services {
                #expect(s.busAddress(of: 4) == bus4, "node \(s.configuration.node.nodeID) finds node 4's bus")
            }
            try await waitUntil("four voters everywhere", timeout: .seconds(10)) {
                for s in trio.services + [four] where await members(s) != [1, 2, 3, 4] { return false }
                return true
            }
            // Node 4 writes (forwarded by its static table) and reads its write at once.
            try await createAndReadBack(four, "from-four")

            // Refusals are precise and change nothing.
            await #expect(throws: ClusterServiceError.self) {
                try await followers[1].changeMembership(.add(nodeID: 4, raftAddress: raft4, busAddress: bus4))
            }
            do {
                try await followers[1].changeMembership(.add(nodeID: 2, raftAddress: "127.0.0.1:1", busAddress: bus4))
                Issue.record("adding a member twice succeeded")
            } catch {
                guard case .rejected(.alreadyExists, _) = error else { throw error }
            }
            for change in [MembershipChange.remove(nodeID: 99), .transferLeadership(to: 99)] {
                do {
                    try await four.changeMembership(change)
                    Issue.record("\(change) succeeded")
                } catch {
                    guard case .rejected(.notFound, _) = error else { throw error }
                }
            }
            do {
                try await four.changeMembership(.add(nodeID: 5, raftAddress: "no-port", busAddress: bus4))
                Issue.record("a bad raft address was accepted")
            } catch {
                guard case .rejected(.invalid, _) = error else { throw error }
            }

            // Leadership to node 4, asked of a follower: the others now forward through the directory.
            let newLeader = try await followers[0].changeMembership(.transferLeadership(to: 4))
            #expect(newLeader == 4)
            try await waitUntil("node 4 leads for everyone", timeout: .seconds(10)) {
                for s in trio.services + [four] where await s.status().leaderID != 4 { return false }
                return true
            }
            for (n, s) in trio.services.enumerated() { try await createAndReadBack(s, "via-directory-\(n)") }

            // Remove the leader (node 4) through a follower: it hands over first, then the new leader removes it.
            try await followers[1].changeMembership(.remove(nodeID: 4))
            try await waitUntil("node 4 gone from the trio's configuration", timeout: .seconds(10)) {
                for s in trio.services where await members(s) != [1, 2, 3] { return false }
                return true
            }
            try await waitUntil("node 4's directory row removed everywhere", timeout: .seconds(10)) {
                trio.services.allSatisfy { s in s.read { $0.nodeAddress(4) } == nil }
            }
            for s in trio.services { #expect(await s.status().leaderID != 4) }
            try await createAndReadBack(followers[1], "after-removal")
        } catch {
            await four.shutdown()
            await trio.shutdown()
            removeDir(dir4)
            try await group.shutdownGracefully()
            throw error
        }
        await four.shutdown()
        await trio.shutdown()
        removeDir(dir4)
        try await group.shutdownGracefully()
    }

    @Test("membership requests and answers round-trip; garbage is refused")
    func wire() async throws {
        let changes: [MembershipChange] = [
            .add(nodeID: 4, raftAddress: "127.0.0.1:7030", busAddress: PeerAddress(host: "127.0.0.1", port: 7031)),
            .add(nodeID: .max, raftAddress: "", busAddress: PeerAddress(host: "hôte", port: 65535)),
            .remove(nodeID: 2),
            .transferLeadership(to: 0),
        ]
        for change in changes {
            let (kind, payload) = ForwardWire.encodeMembership(change)
            #expect(ForwardWire.decodeMembership(kind: kind, payload: payload) == change)
            for cut in 0..<payload.readableBytes {
                #expect(ForwardWire.decodeMembership(kind: kind, payload: payload.getSlice(at: 0, length: cut)!) == nil)
            }
            var longer = payload
            longer.writeInteger(UInt8(0))
            #expect(ForwardWire.decodeMembership(kind: kind, payload: longer) == nil)
            #expect(ForwardWire.decodeMembership(kind: ForwardWire.forwardProposal, payload: payload) == nil)
        }
        // Invalid UTF-8 in a string field.
        var bad = ByteBuffer()
        bad.writeInteger(UInt64(4))
        bad.writeInteger(UInt16(1))
        bad.writeBytes([0xFF])
        bad.writeInteger(UInt16(0))
        bad.writeInteger(UInt16(1))
        #expect(ForwardWire.decodeMembership(kind: ForwardWire.addMember, payload: bad) == nil)

        for answer in [ForwardWire.MembershipAnswer.done(leaderID: 3), .done(leaderID: nil), .notLeader(2),
                       .notLeader(nil)] {
            #expect(ForwardWire.decodeMembershipAnswer(ForwardWire.encodeMembershipAnswer(answer)) == answer)
        }
        #expect(ForwardWire.decodeMembershipAnswer(ByteBuffer(bytes: [0, 0])) == nil)
        #expect(ForwardWire.decodeMembershipAnswer(ByteBuffer(bytes: [7, 0, 0, 0, 0, 0, 0, 0, 0])) == nil)

        // Every refusal crosses the bus as its own code and comes back as the same case.
        for reason in [ClusterServiceError.MembershipRejection.notFound, .alreadyExists, .invalid] {
            let code = ForwardWire.ErrorCode(.rejected(reason, "why"))
            #expect(ClusterServiceError(BusError.remote(code: code.rawValue, message: "why")) == .rejected(reason, "why"))
        }

        // The leader side refuses undecodable requests before touching raft.
        let dir = makeTempDir("svc-mwire")
        defer { removeDir(dir) }
        let node = ClusterNode(
            configuration: ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: dir))
        let reply = await ClusterService.serve(kind: ForwardWire.removeMember, payload: ByteBuffer(bytes: [1]),
                                               node: node, closing: ClusterService.Closing())
        guard case .error(ForwardWire.ErrorCode.badRequest.rawValue, _) = reply else {
            Issue.record("undecodable membership request → \(reply)")
            return
        }
        #expect(ClusterService.isHostPort("127.0.0.1:7030"))
        #expect(ClusterService.isHostPort("[::1]:7030"))
        for bad in ["127.0.0.1", ":7030", "h:0", "h:65536", "h:x"] { #expect(!ClusterService.isHostPort(bad)) }
    }
}
