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
            switch Shadow.delete(current, request: c.payload, shadowName: c.key.shadowName, now: now) {
            case .failure(let e):
                return rejected(e)
            case .success(let payload):
                shadows[c.tenant]?[c.key] = nil
                if shadows[c.tenant]?.isEmpty == true { shadows[c.tenant] = nil }
                return .success(.shadow(ShadowEmission(tenant: c.tenant, key: c.key, status: 200, body: payload,
                                                       messages: [.init(suffix: "delete/accepted", payload: payload)])))
            }
        }
    }

    // MARK: - Reads

    /// The stored document of a shadow, nil when there is none.
    public func shadow(tenant: TenantID, key: ShadowKey) -> ShadowDocument? { shadows[tenant]?[key] }

    /// The names of a thing's named shadows (the classic one excluded), in UTF-8 byte order.
    public func namedShadows(tenant: TenantID, thingName: String) -> [String] {
        (shadows[tenant] ?? [:]).keys.compactMap { $0.thingName == thingName ? $0.shadowName : nil }
            .sorted(by: String.utf8Less)
    }
}
