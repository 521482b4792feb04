import IoTTypes

/// A tenant (an AWS account) as registered in the cluster.
public struct Tenant: Sendable, Hashable {
    public var id: TenantID
    public var name: String
    public init(id: TenantID, name: String) {
        self.id = id
        self.name = name
    }
}

/// A SigV4 access key: the API finds a request's tenant from it (ARCHITECTURE §4).
public struct AccessKey: Sendable, Hashable {
    public var tenant: TenantID
    public var accessKeyID: String
    public var secretKey: String
    /// Epoch milliseconds, as proposed.
    public var createdAtMs: Int64
    public init(tenant: TenantID, accessKeyID: String, secretKey: String, createdAtMs: Int64) {
        self.tenant = tenant
        self.accessKeyID = accessKeyID
        self.secretKey = secretKey
        self.createdAtMs = createdAtMs
    }
}

extension AccessKey {
    /// A new key in AWS's shapes: the id `AKIA` + 16 characters of the base-32 alphabet (A–Z, 2–7), the secret 40
    /// characters of base-64 letters (A–Z, a–z, 0–9, `+`, `/`). The generator must be a secure one in production
    /// (`SystemRandomNumberGenerator`); tests pass a seeded one.
    public static func generate<R: RandomNumberGenerator>(tenant: TenantID, nowMs: Int64, using rng: inout R)
        -> AccessKey
    {
        let idAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let id = "AKIA" + String((0..<16).map { _ in idAlphabet[Int(rng.next() % UInt64(idAlphabet.count))] })
        let secret = String((0..<40).map { _ in secretAlphabet[Int(rng.next() % UInt64(secretAlphabet.count))] })
        return AccessKey(tenant: tenant, accessKeyID: id, secretKey: secret, createdAtMs: nowMs)
    }
}
