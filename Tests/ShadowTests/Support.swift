import Testing

@testable import Shadow

/// Golden documents used by several tables (storage form, `ShadowDocument.storageBytes()`).
enum Golden {
    /// desired {color: red, size: 2}, reported {color: blue, size: 2}, everything set at t=100, version 5.
    static let p1 =
        #"{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":5,"timestamp":100}"#

    /// reported {cfg: {a: 1, b: 2}} at t=100, version 3.
    static let nested =
        #"{"state":{"reported":{"cfg":{"a":1,"b":2}}},"metadata":{"reported":{"cfg":{"a":{"timestamp":100},"b":{"timestamp":100}}}},"version":3,"timestamp":100}"#

    /// A shadow deleted at t=100 at version 7.
    static let tombstone = #"{"state":{},"metadata":{},"version":7,"timestamp":100,"deleted":100}"#

    static func document(_ storage: String?) -> ShadowDocument? {
        guard let storage else { return nil }
        do {
            return try ShadowDocument(storageBytes: Array(storage.utf8))
        } catch {
            Issue.record("golden document does not parse: \(error)")
            return nil
        }
    }
}

func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
