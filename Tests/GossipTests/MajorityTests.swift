@testable import Gossip
import Testing

@Suite("A view's majority (issue 8: no QoS 1/2 acknowledgement without one)")
struct MajorityTests {
    static func view(_ states: [GossipMemberState]) -> [GossipMember] {
        states.enumerated().map { i, s in
            GossipMember(id: GossipNodeID(i + 1), address: GossipAddress(host: "127.0.0.1", port: UInt16(7000 + i)),
                         state: s, incarnation: 0, stateChangedAt: 0)
        }
    }

    @Test("live members must be more than half of those not left", arguments: [
        ([GossipMemberState.alive], true),
        ([.alive, .alive, .dead], true),
        ([.alive, .suspect, .dead], true),
        ([.alive, .dead, .dead], false),
        ([.alive, .suspect, .suspect], true),
        ([.alive, .dead], false),
        ([.alive, .left, .left], true),
        ([.alive, .dead, .left, .left], false),
        ([.alive, .alive, .dead, .dead, .dead], false),
        ([.alive, .alive, .alive, .dead, .dead], true),
    ])
    func majority(states: [GossipMemberState], expected: Bool) {
        #expect(GossipMember.majorityLive(Self.view(states)) == expected, "\(states)")
    }
}
