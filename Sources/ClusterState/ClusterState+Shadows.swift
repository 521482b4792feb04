import IoTTypes
import Shadow

/// Device shadows (issue 6): classic and named, per tenant, through Raft. `apply` runs the pure `Shadow` rules on
/// the client's payload with the command's time, so every node stores the same document and answers the same
/// messages; a rejected request (bad JSON, version conflict, …) is a `.shadow` result with the rejection, not a
/// failure — it changes nothing but is still an answer to publish.
extension ClusterState {
    mutating func onShadow(_ c: ShadowCommand) -> ClusterOutcome {
        let now = c.nowMs / 1000
        let verb = c.operation == .update ? "update" : "delete"
        func rejected(_ e: ShadowError) -> ClusterOutcome {
            let payload = e.payload(timestamp: now)
            return .success(.shadow(ShadowEmission(
                tenant: c.tenant, key: c.key, status: e.code, body: payload, errorMessage: e.message,
                messages: c.viaHTTP ? [] : [.init(suffix: "\(verb)/rejected", payload: payload)])))
        }
        if let problem = Shadow.nameProblem(thingName: c.key.thingName, shadowName: c.key.shadowName) {
            return rejected(problem)
        }
        let current = shadows[c.tenant]?[c.key]
        switch c.operation {
        case .update:
            switch Shadow.update(current, request: c.payload, now: now) {
            case .failure(let e):
                return rejected(e)
            case .success(let r):
                shadows[c.tenant, default: [:]][c.key] = r.document
                var messages: [ShadowEmission.Message] = [.init(suffix: "update/accepted", payload: r.accepted)]
                if let delta = r.delta { messages.append(.init(suffix: "update/delta", payload: delta)) }
                messages.append(.init(suffix: "update/documents", payload: r.documents))
                return .success(.shadow(ShadowEmission(tenant: c.tenant, key: c.key, status: 200, body: r.accepted,
                                                       messages: messages)))
            }
        case .delete:
            switch Shadow.applyDelete(current, request: c.payload, thingName: c.key.thingName,
                                      shadowName: c.key.shadowName, now: now) {
            case .failure(let e):
                return rejected(e)
            case .success(let r):
                // The tombstone keeps the version: a shadow recreated within 48 h continues the sequence (§5.2).
                shadows[c.tenant, default: [:]][c.key] = r.tombstone
                return .success(.shadow(ShadowEmission(
                    tenant: c.tenant, key: c.key, status: 200, body: r.accepted,
                    messages: [.init(suffix: "delete/accepted", payload: r.accepted)])))
            }
        }
    }

    // MARK: - Reads

    /// The stored document of a shadow (a tombstone after a delete, see `ShadowDocument`), nil when there is none.
    public func shadow(tenant: TenantID, key: ShadowKey) -> ShadowDocument? { shadows[tenant]?[key] }

    /// The names of a thing's live named shadows (the classic one and deleted ones excluded), in UTF-8 byte order.
    public func namedShadows(tenant: TenantID, thingName: String) -> [String] {
        (shadows[tenant] ?? [:]).compactMap { key, doc in
            key.thingName == thingName && !doc.isDeleted ? key.shadowName : nil
        }.sorted(by: String.utf8Less)
    }
}
