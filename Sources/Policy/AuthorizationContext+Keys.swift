/// Looking up policy variables and condition keys in an ``AuthorizationContext``.
extension AuthorizationContext {
    /// The values of a condition key, or nil when the key is not in the request context (an empty list counts as
    /// absent too). Key names compare case-insensitively; thing attribute names inside `[…]` case-sensitively.
    public func values(forKey key: String) -> [String]? {
        let lower = asciiLowercased(key)
        let values = lookup(key: key, lower: lower)
        guard let values, !values.isEmpty else { return nil }
        return values
    }

    /// A variable's value for `${key}`: the key's single value; nil when absent or multi-valued (a list cannot be
    /// spliced into one string).
    func variableValue(_ key: String) -> String? {
        guard let v = values(forKey: key), v.count == 1 else { return nil }
        return v[0]
    }

    private func lookup(key: String, lower: String) -> [String]? {
        switch lower {
        case "iot:clientid": return clientID.map { [$0] }
        case "iot:connection.thing.thingname": return thing.map { [$0.name] }
        case "iot:connection.thing.thingtypename": return thing?.typeName.map { [$0] }
        case "iot:connection.thing.isattached": return [thing == nil ? "false" : "true"]
        case "iot:connectattributes": return connectAttributes
        case "iot:certificate.serialnumber": return certificate?.serialNumber.map { [$0] }
        case "iot:certificate.availablekeys": return certificate.map(Self.availableKeys)
        case "aws:sourceip": return sourceIP.map { [$0] }
        case "aws:currenttime":
            return currentTime.map { [PolicyDate.iso8601(milliseconds: Self.floorDiv($0.nanoseconds, 1_000_000))] }
        case "aws:epochtime": return currentTime.map { [String(Self.floorDiv($0.nanoseconds, 1_000_000_000))] }
        case "aws:securetransport": return secureTransport.map { [$0 ? "true" : "false"] }
        case "aws:principalaccount": return [account.accountID]
        case "aws:requestedregion": return [region]
        default: break
        }
        let attributesPrefix = "iot:connection.thing.attributes["
        if lower.hasPrefix(attributesPrefix), key.hasSuffix("]") {
            let name = key.dropFirst(attributesPrefix.count).dropLast()
            return thing?.attributes[String(name)].map { [$0] }
        }
        let subjectPrefix = "iot:certificate.subject."
        let issuerPrefix = "iot:certificate.issuer."
        if lower.hasPrefix(subjectPrefix) {
            return certificate.flatMap { Self.field($0.subject, String(lower.dropFirst(subjectPrefix.count))) }
        }
        if lower.hasPrefix(issuerPrefix) {
            return certificate.flatMap { Self.field($0.issuer, String(lower.dropFirst(issuerPrefix.count))) }
        }
        for (k, v) in additionalKeys where asciiLowercased(k) == lower { return v }
        return nil
    }

    /// `<Field>` (first value), `<Field>.<n>` (zero-based index), `<Field>.List` (all values). `rest` is
    /// lower-cased; field names like `AlternativeName.DNSName` contain a dot, so the whole name is tried first.
    private static func field(_ fields: [String: [String]], _ rest: String) -> [String]? {
        func find(_ name: Substring) -> [String]? {
            for (k, v) in fields where asciiLowercased(k) == name { return v }
            return nil
        }
        if let v = find(Substring(rest)) { return v.first.map { [$0] } }
        guard let dot = rest.lastIndex(of: ".") else { return nil }
        let name = rest[..<dot]
        let suffix = rest[rest.index(after: dot)...]
        guard let v = find(name) else { return nil }
        if suffix == "list" { return v }
        guard let n = Int(suffix), n >= 0, n < v.count else { return nil }
        return [v[n]]
    }

    private static func availableKeys(_ c: CertificateFields) -> [String] {
        var keys: [String] = []
        for (k, v) in c.subject.sorted(by: { $0.key < $1.key }) where !v.isEmpty {
            keys.append("iot:Certificate.Subject.\(k)")
        }
        for (k, v) in c.issuer.sorted(by: { $0.key < $1.key }) where !v.isEmpty {
            keys.append("iot:Certificate.Issuer.\(k)")
        }
        if c.serialNumber != nil { keys.append("iot:Certificate.SerialNumber") }
        return keys
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
