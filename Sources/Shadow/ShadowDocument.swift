/// One stored shadow (AWS-IOT-SPEC §5.1): `state.desired` and `state.reported` (objects, or absent), their
/// `metadata` (the same tree with every leaf replaced by `{"timestamp":<epoch s>}`, arrays element-wise), the
/// `version` and the time of the last update. `delta` is computed, never stored.
///
/// A document can also be a **tombstone** (`deletedAt` set): the shadow was deleted and does not exist (get and
/// delete answer 404, it is not listed), but its version is kept so that a shadow recreated within 48 hours
/// continues the old sequence (§5.2, `Shadow.versionRetentionSeconds`). A tombstone holds no state or metadata.
///
/// Invariants kept by `Shadow`: no empty object anywhere in the state (a section or nested object that an update
/// empties is removed), metadata has exactly the shape of the state, arrays hold no `null`.
public struct ShadowDocument: Sendable, Hashable {
    /// `state.desired`: an object, or nil when the shadow has no desired section.
    public internal(set) var desired: ShadowJSON?
    /// `state.reported`: an object, or nil when the shadow has no reported section.
    public internal(set) var reported: ShadowJSON?
    /// `metadata.desired` / `metadata.reported`, present exactly when the matching state section is.
    public internal(set) var desiredMetadata: ShadowJSON?
    public internal(set) var reportedMetadata: ShadowJSON?
    /// Incremented by one on every accepted update (starting from 1).
    public var version: Int64
    /// Epoch seconds of the last accepted update (of the delete, for a tombstone).
    public var timestamp: Int64
    /// Epoch seconds of the delete when this is a tombstone, nil for a live shadow.
    public internal(set) var deletedAt: Int64?

    /// True for a tombstone: the shadow does not exist, only its version is remembered.
    public var isDeleted: Bool { deletedAt != nil }

    init(
        desired: ShadowJSON?, reported: ShadowJSON?, desiredMetadata: ShadowJSON?, reportedMetadata: ShadowJSON?,
        version: Int64, timestamp: Int64, deletedAt: Int64? = nil
    ) {
        self.desired = desired
        self.reported = reported
        self.desiredMetadata = desiredMetadata
        self.reportedMetadata = reportedMetadata
        self.version = version
        self.timestamp = timestamp
        self.deletedAt = deletedAt
    }

    /// The tombstone left by deleting a shadow at `version` at time `deletedAt`.
    public static func tombstone(version: Int64, deletedAt: Int64) -> ShadowDocument {
        ShadowDocument(
            desired: nil, reported: nil, desiredMetadata: nil, reportedMetadata: nil, version: version,
            timestamp: deletedAt, deletedAt: deletedAt)
    }

    /// `{"desired":…,"reported":…}` with absent sections left out.
    var stateObject: ShadowJSON {
        var m: [ShadowJSON.Member] = []
        if let desired { m.append(.init("desired", desired)) }
        if let reported { m.append(.init("reported", reported)) }
        return .object(m)
    }

    var metadataObject: ShadowJSON {
        var m: [ShadowJSON.Member] = []
        if let desiredMetadata { m.append(.init("desired", desiredMetadata)) }
        if let reportedMetadata { m.append(.init("reported", reportedMetadata)) }
        return .object(m)
    }

    /// The delta (§5.2): desired keys missing from reported or different there, nil when there are none.
    public var delta: ShadowJSON? {
        guard let desired else { return nil }
        return ShadowMerge.delta(desired: desired, reported: reported ?? .object([]))
    }

    /// The document as a client sees it (GET without delta): `{"state":…,"metadata":…,"version":N,"timestamp":T}`.
    public var json: ShadowJSON {
        .object([
            .init("state", stateObject), .init("metadata", metadataObject), .init("version", .int(version)),
            .init("timestamp", .int(timestamp)),
        ])
    }

    // MARK: Storage

    /// Canonical bytes for snapshots and replicated state: `{"state":…,"metadata":…,"version":N,"timestamp":T}`,
    /// plus `"deleted":T` for a tombstone. `init(storageBytes:)` reads them back to an equal document, and writing
    /// that again gives the same bytes.
    public func storageBytes() -> [UInt8] {
        var m: [ShadowJSON.Member] = [
            .init("state", stateObject), .init("metadata", metadataObject), .init("version", .int(version)),
            .init("timestamp", .int(timestamp)),
        ]
        if let deletedAt { m.append(.init("deleted", .int(deletedAt))) }
        return ShadowJSON.object(m).bytes()
    }

    /// Reads `storageBytes()`; anything else is a 500 "Internal service failure" (stored data never comes from a
    /// client).
    public init(storageBytes: [UInt8]) throws(ShadowError) {
        guard ShadowJSON.isValidUTF8(storageBytes), let json = try? ShadowJSON.parse(storageBytes),
            let top = json.members
        else { throw .internalFailure }
        guard top.allSatisfy({ ["state", "metadata", "version", "timestamp", "deleted"].contains($0.key) }),
            let state = top.value("state")?.members, let metadata = top.value("metadata")?.members,
            let version = top.value("version").flatMap(Shadow.int64), version >= 0,
            let timestamp = top.value("timestamp").flatMap(Shadow.int64)
        else { throw .internalFailure }
        var deletedAt: Int64?
        if let d = top.value("deleted") {
            guard let t = Shadow.int64(d) else { throw .internalFailure }
            deletedAt = t
        }
        func section(_ members: [ShadowJSON.Member], _ key: String) throws(ShadowError) -> ShadowJSON? {
            guard let v = members.value(key) else { return nil }
            guard case .object = v else { throw .internalFailure }
            return v
        }
        guard state.allSatisfy({ $0.key == "desired" || $0.key == "reported" }),
            metadata.allSatisfy({ $0.key == "desired" || $0.key == "reported" })
        else { throw .internalFailure }
        self.init(
            desired: try section(state, "desired"), reported: try section(state, "reported"),
            desiredMetadata: try section(metadata, "desired"), reportedMetadata: try section(metadata, "reported"),
            version: version, timestamp: timestamp, deletedAt: deletedAt)
        guard (desired == nil) == (desiredMetadata == nil), (reported == nil) == (reportedMetadata == nil) else {
            throw .internalFailure
        }
    }
}
