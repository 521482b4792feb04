/// The outcome of an accepted update: the document to store and the three payloads to publish (§5.2).
public struct ShadowUpdateResult: Sendable, Hashable {
    /// The new stored document.
    public var document: ShadowDocument
    /// The `/update/accepted` payload.
    public var accepted: [UInt8]
    /// The `/update/delta` payload, nil when there is no delta to publish.
    public var delta: [UInt8]?
    /// The `/update/documents` payload (previous/current).
    public var documents: [UInt8]
}

/// The outcome of an accepted delete: the tombstone to store in place of the shadow (it keeps the version, see
/// `ShadowDocument`) and the `/delete/accepted` payload.
public struct ShadowDeleteResult: Sendable, Hashable {
    public var tombstone: ShadowDocument
    public var accepted: [UInt8]
}

/// The Device Shadow service as pure functions (AWS-IOT-SPEC §5): request bytes and the stored document in,
/// the new document and the response payloads out. No clock (`now` is epoch seconds, the unit of shadow
/// timestamps) and no randomness: every node applying the same request to the same document gets the same bytes.
///
/// Order of the checks on an update (the first failure is the answer): UTF-8 (415), JSON (400 "Invalid JSON"),
/// `clientToken` (400; from here on the token is echoed on `/rejected`), `version` syntax (400), `state` shape (400),
/// nesting depth (400), arrays without `null` (400 "Invalid JSON"), `version` match (409), merged size (413).
///
/// **Version across a delete** (§5.2, "48 h rule"): deleting a shadow leaves a tombstone (`applyDelete`) holding
/// the deleted version. An update within `versionRetentionSeconds` (48 h) of the delete recreates the shadow at
/// tombstone version + 1; a later update, or one with no document at all, starts at version 1. The integrator
/// stores the tombstone in place of the shadow and may drop it once `isExpired(_:now:)` says so (an expired
/// tombstone and no document behave the same).
public enum Shadow {
    /// Maximum size of `state` (desired + reported, canonical compact JSON, metadata excluded), §5.5.
    public static let maxStateBytes = 8192
    /// Maximum nesting inside `desired` or `reported`, counting the section object itself and every object or
    /// array below it: `"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}` is 6 levels, the most allowed. (AWS's old
    /// quota said 5 levels below the section; its error message says 6: both describe this same limit.)
    public static let maxDepth = 6
    /// Maximum `clientToken` length in UTF-8 bytes.
    public static let maxClientTokenBytes = 64
    /// How long a deleted shadow's version is remembered (§5.2: recreated within 48 h continues the sequence).
    public static let versionRetentionSeconds: Int64 = 48 * 3600

    /// True when `document` is a tombstone older than `versionRetentionSeconds`: it can be dropped, as an update
    /// after it starts again at version 1 anyway.
    public static func isExpired(_ document: ShadowDocument, now: Int64) -> Bool {
        guard let deletedAt = document.deletedAt else { return false }
        return now - deletedAt >= versionRetentionSeconds
    }

    // MARK: Update

    /// UpdateThingShadow / `…/update`: `request` is the raw request payload. `current` nil = no shadow yet (a
    /// tombstone counts as no shadow, see the type's comment for its version).
    public static func update(
        _ current: ShadowDocument?, request: [UInt8], now: Int64
    ) -> Result<ShadowUpdateResult, ShadowError> {
        let req: Request
        switch parseRequest(request, emptyAllowed: false) {
        case .success(let r): req = r
        case .failure(let e): return .failure(e)
        }
        let token = req.clientToken
        func reject(_ e: ShadowError) -> Result<ShadowUpdateResult, ShadowError> {
            .failure(e.with(clientToken: token))
        }

        // state: required; null clears; otherwise an object of desired/reported, each an object or null.
        guard let state = req.members.value("state") else { return reject(.missingState) }
        var desiredPatch: ShadowJSON?
        var reportedPatch: ShadowJSON?
        var clearAll = false
        switch state {
        case .null:
            clearAll = true
        case .object(let sm):
            for m in sm {
                switch m.key {
                case "desired":
                    guard m.value == .null || m.value.members != nil else { return reject(.desiredNotObject) }
                    desiredPatch = m.value
                case "reported":
                    guard m.value == .null || m.value.members != nil else { return reject(.reportedNotObject) }
                    reportedPatch = m.value
                default:
                    return reject(.invalidStateNode)
                }
            }
        case .array, .string, .number, .bool:
            return reject(.stateNotObject)
        }
        for patch in [desiredPatch, reportedPatch].compactMap({ $0 }) {
            if patch.containerDepth > maxDepth { return reject(.tooDeep) }
            if patch.hasNullInArray { return reject(.invalidJSON) }
        }

        // version: the live shadow's, or the remembered one of a recent tombstone; 0 when there is none.
        let live = current.flatMap { $0.isDeleted ? nil : $0 }
        let base: Int64
        if let live {
            base = live.version
        } else if let current, !isExpired(current, now: now) {
            base = current.version
        } else {
            base = 0
        }
        if let expected = req.version, expected != base { return reject(.versionConflict) }
        guard base < Int64.max else { return reject(.internalFailure) }

        var next = ShadowDocument(
            desired: live?.desired, reported: live?.reported, desiredMetadata: live?.desiredMetadata,
            reportedMetadata: live?.reportedMetadata, version: base + 1, timestamp: now)
        if clearAll {
            next.desired = nil
            next.desiredMetadata = nil
            next.reported = nil
            next.reportedMetadata = nil
        }
        if let desiredPatch {
            let merged = ShadowMerge.merge(
                state: next.desired, metadata: next.desiredMetadata, patch: desiredPatch, now: now)
            next.desired = merged?.state
            next.desiredMetadata = merged?.metadata
        }
        if let reportedPatch {
            let merged = ShadowMerge.merge(
                state: next.reported, metadata: next.reportedMetadata, patch: reportedPatch, now: now)
            next.reported = merged?.state
            next.reportedMetadata = merged?.metadata
        }
        if next.stateObject.bytes().count > maxStateBytes { return reject(.tooLarge) }

        // /update/accepted: the request's state echoed (nulls included) with its metadata.
        var accepted: [ShadowJSON.Member] = [
            .init("state", state), .init("metadata", ShadowMerge.metadata(of: state, now: now)),
            .init("version", .int(next.version)), .init("timestamp", .int(now)),
        ]
        if let token { accepted.append(.init("clientToken", .string(token))) }

        // /update/delta: only when the request set desired fields and the resulting delta is not empty.
        var deltaPayload: [UInt8]?
        if desiredPatch?.members != nil, let delta = next.delta, let desired = next.desired,
            let desiredMetadata = next.desiredMetadata
        {
            var m: [ShadowJSON.Member] = [
                .init("version", .int(next.version)), .init("timestamp", .int(now)), .init("state", delta),
                .init(
                    "metadata",
                    ShadowMerge.deltaMetadata(delta: delta, desired: desired, metadata: desiredMetadata)),
            ]
            if let token { m.append(.init("clientToken", .string(token))) }
            deltaPayload = ShadowJSON.object(m).bytes()
        }

        // /update/documents: previous (absent for a new shadow) and current, without delta.
        func snapshot(_ d: ShadowDocument) -> ShadowJSON {
            .object([
                .init("state", d.stateObject), .init("metadata", d.metadataObject), .init("version", .int(d.version)),
            ])
        }
        var documents: [ShadowJSON.Member] = []
        if let live { documents.append(.init("previous", snapshot(live))) }
        documents.append(.init("current", snapshot(next)))
        documents.append(.init("timestamp", .int(now)))
        if let token { documents.append(.init("clientToken", .string(token))) }

        return .success(
            ShadowUpdateResult(
                document: next, accepted: ShadowJSON.object(accepted).bytes(), delta: deltaPayload,
                documents: ShadowJSON.object(documents).bytes()))
    }

    // MARK: Get

    /// GetThingShadow / `…/get`: the `/get/accepted` payload (or 404 "No shadow exists with name: '…'": the shadow
    /// name for a named shadow, else `thingName`). `request` may be empty or `{"clientToken":…}`.
    public static func get(
        _ current: ShadowDocument?, request: [UInt8], thingName: String = "", shadowName: String?, now: Int64
    ) -> Result<[UInt8], ShadowError> {
        let req: Request
        switch parseRequest(request, emptyAllowed: true) {
        case .success(let r): req = r
        case .failure(let e): return .failure(e)
        }
        guard let doc = current, !doc.isDeleted else {
            return .failure(ShadowError.noShadow(named: shadowName ?? thingName).with(clientToken: req.clientToken))
        }
        var state = doc.stateObject.members ?? []
        if let delta = doc.delta { state.append(.init("delta", delta)) }
        var m: [ShadowJSON.Member] = [
            .init("state", .object(state)), .init("metadata", doc.metadataObject), .init("version", .int(doc.version)),
            .init("timestamp", .int(now)),
        ]
        if let token = req.clientToken { m.append(.init("clientToken", .string(token))) }
        return .success(ShadowJSON.object(m).bytes())
    }

    // MARK: Delete

    /// DeleteThingShadow / `…/delete`: the `/delete/accepted` payload (`{"version","timestamp","clientToken"?}`,
    /// the version being the deleted shadow's). Use `applyDelete` to also get the tombstone to store.
    public static func delete(
        _ current: ShadowDocument?, request: [UInt8], thingName: String = "", shadowName: String?, now: Int64
    ) -> Result<[UInt8], ShadowError> {
        applyDelete(current, request: request, thingName: thingName, shadowName: shadowName, now: now).map(\.accepted)
    }

    /// The delete with its effect: the tombstone to store in place of the shadow (keeping its version for the
    /// 48 h rule) and the `/delete/accepted` payload. 404 when there is no live shadow; a `version` in the request,
    /// when present, must match (409).
    public static func applyDelete(
        _ current: ShadowDocument?, request: [UInt8], thingName: String = "", shadowName: String?, now: Int64
    ) -> Result<ShadowDeleteResult, ShadowError> {
        let req: Request
        switch parseRequest(request, emptyAllowed: true) {
        case .success(let r): req = r
        case .failure(let e): return .failure(e)
        }
        guard let doc = current, !doc.isDeleted else {
            return .failure(ShadowError.noShadow(named: shadowName ?? thingName).with(clientToken: req.clientToken))
        }
        if let expected = req.version, expected != doc.version {
            return .failure(ShadowError.versionConflict.with(clientToken: req.clientToken))
        }
        var m: [ShadowJSON.Member] = [.init("version", .int(doc.version)), .init("timestamp", .int(now))]
        if let token = req.clientToken { m.append(.init("clientToken", .string(token))) }
        return .success(
            ShadowDeleteResult(
                tombstone: .tombstone(version: doc.version, deletedAt: now), accepted: ShadowJSON.object(m).bytes()))
    }

    // MARK: Names

    /// Thing and shadow name rules (botocore `iot-data`: ThingName 1–128 of `[a-zA-Z0-9:_-]`, ShadowName 1–64 of
    /// `[$a-zA-Z0-9:_-]`), nil when valid, else the 400 error.
    public static func nameProblem(thingName: String, shadowName: String?) -> ShadowError? {
        func ok(_ s: String, max: Int, dollar: Bool) -> Bool {
            let u = Array(s.utf8)
            guard !u.isEmpty, u.count <= max else { return false }
            return u.allSatisfy { b in
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                case UInt8(ascii: "$"): dollar
                default: false
                }
            }
        }
        guard ok(thingName, max: 128, dollar: false) else {
            return ShadowError(code: 400, message: "Invalid thing name")
        }
        if let shadowName, !ok(shadowName, max: 64, dollar: true) {
            return ShadowError(code: 400, message: "Invalid shadow name")
        }
        return nil
    }

    // MARK: Requests

    /// A request's `clientToken`, when it is valid JSON with a valid token (so a rejection the service makes without
    /// running the rules — no answer from the cluster — can still echo it, as every AWS rejection does).
    public static func clientToken(in request: [UInt8]) -> String? {
        if case .success(let r) = parseRequest(request, emptyAllowed: true) { return r.clientToken }
        return nil
    }

    struct Request {
        var members: [ShadowJSON.Member]
        var clientToken: String?
        var version: Int64?
    }

    /// The common part of every request: UTF-8, a JSON object, a valid `clientToken` and `version` when present.
    /// `emptyAllowed`: an empty (or all-whitespace) payload is `{}` (get and delete).
    static func parseRequest(_ bytes: [UInt8], emptyAllowed: Bool) -> Result<Request, ShadowError> {
        guard ShadowJSON.isValidUTF8(bytes) else { return .failure(.unsupportedEncoding) }
        if emptyAllowed, bytes.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            return .success(Request(members: []))
        }
        let json: ShadowJSON
        do throws(ShadowJSON.ParseError) {
            json = try ShadowJSON.parse(bytes)
        } catch {
            switch error {
            case .tooDeep: return .failure(.tooDeep)
            case .invalid: return .failure(.invalidJSON)
            }
        }
        guard let members = json.members else { return .failure(.invalidJSON) }
        var req = Request(members: members)
        if let t = members.value("clientToken") {
            guard case .string(let s) = t, s.utf8.count <= maxClientTokenBytes else {
                return .failure(.invalidClientToken)
            }
            req.clientToken = s
        }
        if let v = members.value("version") {
            guard let n = int64(v), n >= 0 else {
                return .failure(ShadowError.invalidVersion.with(clientToken: req.clientToken))
            }
            req.version = n
        }
        return .success(req)
    }

    /// A JSON integer (no fraction or exponent) that fits an Int64.
    static func int64(_ v: ShadowJSON) -> Int64? {
        guard case .number(let text) = v else { return nil }
        return Int64(text)
    }
}
