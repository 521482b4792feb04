import ClusterState
import IoTTypes
import Testing

@Suite("ClusterOutcome codec")
struct ClusterOutcomeCodecTests {
    static let outcomes: [ClusterOutcome] = [
        .success(.done),
        .success(.thing(thingId: "00000000-0000-0000-0000-000000000001", version: 7)),
        .success(.thing(thingId: "", version: .min)),
        .success(.batch(failed: 0)),
        .success(.batch(failed: .max)),
        .success(.thingType(thingTypeId: "8e0b6f8c-0000-4000-8000-000000000001")),
        .success(.thingGroup(thingGroupId: "g-id", version: 3)),
        .success(.shadow(ShadowEmission(
            tenant: TenantID("111111111111"), key: ShadowKey(thingName: "lamp", shadowName: nil), status: 200,
            body: Array(#"{"version":1}"#.utf8),
            messages: [.init(suffix: "update/accepted", payload: Array(#"{"version":1}"#.utf8)),
                       .init(suffix: "update/documents", payload: [])]))),
        .success(.shadow(ShadowEmission(
            tenant: TenantID("111111111111"), key: ShadowKey(thingName: "lamp", shadowName: "cfg"), status: 409,
            body: Array(#"{"code":409}"#.utf8), errorMessage: "Version conflict", messages: []))),
        .failure(.resourceNotFound),
        .failure(.resourceAlreadyExists),
        .failure(.versionConflict),
        .failure(.invalidRequest("account id must be 12 digits ✓")),
        .failure(.unsupportedCommandVersion(9)),
        .failure(.malformedCommand),
        .failure(.certificateState("Certificate must be deactivated (not ACTIVE) before deletion.")),
        .failure(.certificateValidation("The server certificate does not cover the domain name x.example.")),
    ]

    @Test("every outcome decodes to itself", arguments: outcomes)
    func roundTrip(_ outcome: ClusterOutcome) {
        let bytes = ClusterOutcomeCodec.encode(outcome)
        #expect(bytes.first == ClusterOutcomeCodec.formatVersion)
        #expect(ClusterOutcomeCodec.decode(bytes) == outcome)
    }

    @Test("other versions, unknown tags, every truncation and trailing bytes are refused", arguments: outcomes)
    func refused(_ outcome: ClusterOutcome) {
        let bytes = ClusterOutcomeCodec.encode(outcome)
        for n in 0..<bytes.count { #expect(ClusterOutcomeCodec.decode(Array(bytes.prefix(n))) == nil) }
        #expect(ClusterOutcomeCodec.decode(bytes + [0]) == nil)
        var future = bytes
        future[0] = ClusterOutcomeCodec.formatVersion + 1
        #expect(ClusterOutcomeCodec.decode(future) == nil)
    }

    @Test("unknown kinds and case tags are refused")
    func unknownTags() {
        #expect(ClusterOutcomeCodec.decode([1, 2, 0]) == nil)
        #expect(ClusterOutcomeCodec.decode([1, 0, 9]) == nil)
        #expect(ClusterOutcomeCodec.decode([1, 1, 0]) == nil)
        #expect(ClusterOutcomeCodec.decode([1, 1, 99]) == nil)
    }
}
