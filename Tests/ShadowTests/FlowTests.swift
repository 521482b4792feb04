import Testing

@testable import Shadow

/// The flow of issue 6's "Done when" 2 (the Device SDK shadow sample), on the pure module: desired → delta,
/// report → no delta, get, a stale version rejected, delete, get after delete.
@Suite struct FlowTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("§5.2 the SDK sample flow, message by message")
    func test_sdk_flow() throws {
        // 1. The app sets desired color; the device gets a delta with the same version as accepted.
        let u1 = try Shadow.update(nil, request: bytes(#"{"state":{"desired":{"color":"on"}},"clientToken":"a"}"#), now: 10).get()
        #expect(text(u1.accepted) == #"{"state":{"desired":{"color":"on"}},"metadata":{"desired":{"color":{"timestamp":10}}},"version":1,"timestamp":10,"clientToken":"a"}"#)
        #expect(text(u1.delta) == #"{"version":1,"timestamp":10,"state":{"color":"on"},"metadata":{"color":{"timestamp":10}},"clientToken":"a"}"#)
        // 2. The device reports the new color: accepted, no delta.
        let u2 = try Shadow.update(u1.document, request: bytes(#"{"state":{"reported":{"color":"on"}},"version":1}"#), now: 11).get()
        #expect(u2.document.version == 2)
        #expect(u2.delta == nil)
        // 3. Get: both sections, no delta.
        let g = try Shadow.get(u2.document, request: bytes(#"{"clientToken":"g"}"#), thingName: "t", shadowName: nil, now: 12).get()
        #expect(text(g) == #"{"state":{"desired":{"color":"on"},"reported":{"color":"on"}},"metadata":{"desired":{"color":{"timestamp":10}},"reported":{"color":{"timestamp":11}}},"version":2,"timestamp":12,"clientToken":"g"}"#)
        // 4. A stale version is rejected and changes nothing.
        let stale = Shadow.update(u2.document, request: bytes(#"{"state":{"reported":{"color":"off"}},"version":1,"clientToken":"s"}"#), now: 13)
        #expect(stale == .failure(ShadowError(code: 409, message: "Version conflict", clientToken: "s")))
        // 5. Delete, then get is 404 and delete again is 404.
        let d = try Shadow.applyDelete(u2.document, request: [], thingName: "t", shadowName: nil, now: 14).get()
        #expect(text(d.accepted) == #"{"version":2,"timestamp":14}"#)
        let gone = Shadow.get(d.tombstone, request: [], thingName: "t", shadowName: nil, now: 15)
        #expect(gone == .failure(ShadowError(code: 404, message: "No shadow exists with name: 't'")))
        // 6. Recreated within 48 h: version 3.
        let u3 = try Shadow.update(d.tombstone, request: bytes(#"{"state":{"reported":{"color":"off"}}}"#), now: 16).get()
        #expect(u3.document.version == 3)
    }
}
