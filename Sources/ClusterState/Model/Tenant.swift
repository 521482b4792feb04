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
