import IoTTypes
import Testing

@testable import ClusterState

@Suite("The read barrier (issue 8)")
struct ReadBarrierTests {
    @Test("applies as done, moves the applied index, and changes nothing else")
    func noOp() {
        var h = Harness()
        #expect(h.apply(ClusterStateApplyTests.create("lamp-1")) == .success(.thing(thingId: h.state.thing(tenant: acme, name: "lamp-1")!.thingId, version: 1)))
        var before = h.state
        #expect(h.apply(.readBarrier) == .success(.done))
        #expect(h.state.lastAppliedIndex == before.lastAppliedIndex + 1)
        // Same state apart from the index: the snapshot of the earlier state with the index moved is identical.
        before.lastAppliedIndex = h.state.lastAppliedIndex
        #expect(before.snapshot() == h.state.snapshot())
        #expect(ClusterCommand.decode(ClusterCommand.readBarrier.encoded()) == .success(.readBarrier))
    }
}
