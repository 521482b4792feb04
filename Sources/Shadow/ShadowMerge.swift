/// The tree algorithms of §5.1–5.2: deep merge with metadata, metadata of a request, delta.
enum ShadowMerge {
    /// `{"timestamp":T}`, the metadata of one leaf.
    static func leafMetadata(_ now: Int64) -> ShadowJSON { .object([.init("timestamp", .int(now))]) }

    /// The metadata mirroring `value` (§5.1): objects recurse, arrays map element-wise, every other value (null
    /// included, as echoed on `/update/accepted`) becomes `{"timestamp":now}`.
    static func metadata(of value: ShadowJSON, now: Int64) -> ShadowJSON {
        switch value {
        case .object(let m): .object(m.map { .init($0.key, metadata(of: $0.value, now: now)) })
        case .array(let a): .array(a.map { metadata(of: $0, now: now) })
        case .string, .number, .bool, .null: leafMetadata(now)
        }
    }

    /// Deep-merges `patch` into `state` (whose metadata is `metadata`), §5.2: `null` removes the key, objects merge
    /// member by member, anything else (arrays included) replaces the value wholesale and gets fresh metadata.
    /// Returns nil when the result is absent: a `null` patch, or an object left empty (empty objects are never
    /// stored, so a section or nested object emptied by deletions disappears with its metadata).
    static func merge(
        state: ShadowJSON?, metadata: ShadowJSON?, patch: ShadowJSON, now: Int64
    ) -> (state: ShadowJSON, metadata: ShadowJSON)? {
        switch patch {
        case .null:
            return nil
        case .object(let patchMembers):
            var members = state?.members ?? []
            var meta = state?.members != nil ? (metadata?.members ?? []) : []
            for p in patchMembers {
                if let merged = merge(
                    state: members.value(p.key), metadata: meta.value(p.key), patch: p.value, now: now)
                {
                    members.set(p.key, merged.state)
                    meta.set(p.key, merged.metadata)
                } else {
                    members.remove(p.key)
                    meta.remove(p.key)
                }
            }
            return members.isEmpty ? nil : (.object(members), .object(meta))
        case .array, .string, .number, .bool:
            return (patch, ShadowMerge.metadata(of: patch, now: now))
        }
    }

    /// The delta of §5.2: every member of `desired` missing from `reported` or different there, recursing into
    /// objects present on both sides; arrays and scalars compare whole; members only in reported are left out.
    /// Nil when nothing differs.
    static func delta(desired: ShadowJSON, reported: ShadowJSON) -> ShadowJSON? {
        guard case .object(let d) = desired else { return desired == reported ? nil : desired }
        guard case .object(let r) = reported else { return desired }
        var out: [ShadowJSON.Member] = []
        for m in d {
            guard let rv = r.value(m.key) else {
                out.append(m)
                continue
            }
            if let sub = delta(desired: m.value, reported: rv) { out.append(.init(m.key, sub)) }
        }
        return out.isEmpty ? nil : .object(out)
    }

    /// The part of `metadata` (desired metadata) at the paths of `delta`: for each delta member that is an object
    /// recursing where the desired value was an object, else the desired metadata of that member whole.
    static func deltaMetadata(delta: ShadowJSON, desired: ShadowJSON, metadata: ShadowJSON) -> ShadowJSON {
        guard case .object(let dm) = delta, case .object = desired, let mm = metadata.members else { return metadata }
        var out: [ShadowJSON.Member] = []
        for m in dm {
            guard let dv = desired[m.key], let mv = mm.value(m.key) else { continue }
            out.append(.init(m.key, deltaMetadata(delta: m.value, desired: dv, metadata: mv)))
        }
        return .object(out)
    }
}
