import Broker
import Foundation
import MQTTCodec
import Yams

/// `flotilla serve` settings: defaults, overridden by the YAML file (`--config`), overridden by flags.
/// Every key is documented in ops/configuration.md.
struct NodeConfiguration: Decodable, Sendable {
    /// Raft server id (> 0, unique in the cluster).
    var nodeID: UInt64 = 1
    var dataDir: String = "./flotilla-data"
    var bind: String = "127.0.0.1"
    var mqttPort: Int = 1883
    /// The control plane (AWS `iot` REST API, SigV4), `/metrics` and `/health`. `metrics_port` is its old name.
    var apiPort: Int = 8080
    var logLevel: String = "info"
    /// Raft transport and cluster bus ports (both bound on `bind`).
    var raftPort: Int = 7000
    var busPort: Int = 7001
    /// Gossip membership and subscription routes: UDP and TCP on this one port (nil: the bus port + 1).
    var gossipPort: Int?
    /// Raft timing: a follower that hears nothing from the leader for the election timeout starts an election;
    /// the leader sends heartbeats every heartbeat timeout. Lower values fail over faster and cost more traffic.
    var electionTimeoutMs: Int = 800
    var heartbeatTimeoutMs: Int = 100
    /// How long a node waits for each other node's answer when a client connects (issue 7 takeover); a node that
    /// does not answer in time is treated as gone. A kicked connection gets half of it to close.
    var takeoverTimeoutMs: Int = 2000
    /// The other initial voters, each `id@host:raftPort:busPort[:gossipPort]` (gossip default: bus port + 1).
    var peers: [String] = []
    /// Form the initial cluster from this node and `peers` (nil: decided at start, see `Serve`).
    var bootstrap: Bool?
    /// Start empty and wait to be added by the leader.
    var join: Bool = false
    /// The region in the ARNs the control plane returns (`arn:aws:iot:<region>:<account>:…`).
    var region: String = "us-east-1"
    /// The DNS suffix of the endpoint addresses DescribeEndpoint answers (`<prefix>-ats.iot.<region>.<suffix>`).
    var endpointDomain: String = "amazonaws.com"
    /// MQTT over TLS with mutual authentication (8883 in production); nil: no TLS listener.
    var mqttsPort: Int?
    /// TLS with ALPN (AWS's 443; 8443 in production here): MQTT, HTTPS publish, MQTT over WebSocket. nil: none.
    var tlsPort: Int?
    /// The default endpoint's server certificate chain and key (PEM files); nil: `<data_dir>/tls/server.pem`
    /// and `server.key` (the development certificates).
    var tlsCert: String?
    var tlsKey: String?
    /// A TLS ClientHello naming no known domain: `default` serves the default endpoint, `reject` refuses with
    /// `unrecognized_name`.
    var tlsUnknownSNI: String = "default"
    /// Make sure the default tenant has an access key and write it to `<data_dir>/aws-credentials` (profile
    /// `flotilla`), so the AWS CLI works at once. Off in production, where `flotilla admin` issues keys.
    var defaultCredentials: Bool = true
    /// IoT policies on certificate connections (8883, 8443): `enforce` (AWS's default deny) or `off` (any
    /// authenticated certificate may do anything — for TLS-only test setups). The plain listener is never enforced.
    var policies: String = "enforce"
    var limits: Limits = Limits()

    struct Limits: Codable, Sendable {
        var maxPacketSize: UInt32?
        var maxClientIdLength: Int?
        var maxTopicLength: Int?
        var maxTopicSlashes: Int?
        var maxFiltersPerSubscribe: Int?
        var maxSubscriptionsPerSession: Int?
        var receiveMaximum: UInt16?
        var maxInflightOutbound: UInt16?
        var topicAliasMaximum: UInt16?
        var minKeepAlive: UInt16?
        var maxKeepAlive: UInt16?
        var maxSessionExpiry: UInt32?
        var maxMessageExpiry: UInt32?
        var maxQueuedMessages: Int?
        var maxQos: UInt8?
        var retainAvailable: Bool?
    }

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id", dataDir = "data_dir", bind, mqttPort = "mqtt_port", apiPort = "api_port"
        case metricsPort = "metrics_port", defaultCredentials = "default_credentials"
        case logLevel = "log_level", limits
        case raftPort = "raft_port", busPort = "bus_port", gossipPort = "gossip_port", peers, bootstrap, join
        case electionTimeoutMs = "election_timeout_ms", heartbeatTimeoutMs = "heartbeat_timeout_ms"
        case takeoverTimeoutMs = "takeover_timeout_ms"
        case region, endpointDomain = "endpoint_domain"
        case mqttsPort = "mqtts_port", tlsPort = "tls_port", tlsCert = "tls_cert", tlsKey = "tls_key", tlsUnknownSNI = "tls_unknown_sni"
        case policies
    }

    init() {}

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NodeConfiguration()
        nodeID = try c.decodeIfPresent(UInt64.self, forKey: .nodeID) ?? d.nodeID
        dataDir = try c.decodeIfPresent(String.self, forKey: .dataDir) ?? d.dataDir
        bind = try c.decodeIfPresent(String.self, forKey: .bind) ?? d.bind
        mqttPort = try c.decodeIfPresent(Int.self, forKey: .mqttPort) ?? d.mqttPort
        apiPort = try c.decodeIfPresent(Int.self, forKey: .apiPort)
            ?? c.decodeIfPresent(Int.self, forKey: .metricsPort) ?? d.apiPort
        defaultCredentials = try c.decodeIfPresent(Bool.self, forKey: .defaultCredentials) ?? d.defaultCredentials
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? d.limits
        raftPort = try c.decodeIfPresent(Int.self, forKey: .raftPort) ?? d.raftPort
        busPort = try c.decodeIfPresent(Int.self, forKey: .busPort) ?? d.busPort
        gossipPort = try c.decodeIfPresent(Int.self, forKey: .gossipPort)
        peers = try c.decodeIfPresent([String].self, forKey: .peers) ?? d.peers
        bootstrap = try c.decodeIfPresent(Bool.self, forKey: .bootstrap)
        join = try c.decodeIfPresent(Bool.self, forKey: .join) ?? d.join
        electionTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .electionTimeoutMs) ?? d.electionTimeoutMs
        heartbeatTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatTimeoutMs) ?? d.heartbeatTimeoutMs
        takeoverTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .takeoverTimeoutMs) ?? d.takeoverTimeoutMs
        region = try c.decodeIfPresent(String.self, forKey: .region) ?? d.region
        endpointDomain = try c.decodeIfPresent(String.self, forKey: .endpointDomain) ?? d.endpointDomain
        mqttsPort = try c.decodeIfPresent(Int.self, forKey: .mqttsPort)
        tlsPort = try c.decodeIfPresent(Int.self, forKey: .tlsPort)
        tlsCert = try c.decodeIfPresent(String.self, forKey: .tlsCert)
        tlsKey = try c.decodeIfPresent(String.self, forKey: .tlsKey)
        tlsUnknownSNI = try c.decodeIfPresent(String.self, forKey: .tlsUnknownSNI) ?? d.tlsUnknownSNI
        policies = try c.decodeIfPresent(String.self, forKey: .policies) ?? d.policies
    }

    /// An AWS-style region name: lower-case letters, digits and dashes (`us-east-1`, `eu-west-3`, `local`).
    var isValidRegion: Bool {
        !region.isEmpty && region.utf8.count <= 32
            && region.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    static func load(path: String) throws -> NodeConfiguration {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try YAMLDecoder().decode(NodeConfiguration.self, from: text)
    }

    /// The broker limits: AWS IoT Core defaults with the file's overrides.
    func brokerLimits() throws -> BrokerLimits {
        var l = BrokerLimits()
        let o = limits
        if let v = o.maxPacketSize { l.maxPacketSize = v }
        if let v = o.maxClientIdLength { l.maxClientIDLength = v }
        if let v = o.maxTopicLength { l.topic.maxLength = v }
        if let v = o.maxTopicSlashes { l.topic.maxSlashes = v }
        if let v = o.maxFiltersPerSubscribe { l.maxFiltersPerSubscribe = v }
        if let v = o.maxSubscriptionsPerSession { l.maxSubscriptionsPerSession = v }
        if let v = o.receiveMaximum { l.receiveMaximum = v }
        if let v = o.maxInflightOutbound { l.maxInflightOutbound = v }
        if let v = o.topicAliasMaximum { l.topicAliasMaximum = v }
        if let v = o.minKeepAlive { l.minKeepAlive = v }
        if let v = o.maxKeepAlive { l.maxKeepAlive = v }
        if let v = o.maxSessionExpiry { l.maxSessionExpiry = v }
        if let v = o.maxMessageExpiry { l.maxMessageExpiry = v }
        if let v = o.maxQueuedMessages { l.maxQueuedMessages = v }
        if let v = o.maxQos {
            guard let q = QoS(rawValue: v) else { throw ConfigurationError("limits.max_qos must be 0, 1 or 2") }
            l.maxQoS = q
        }
        if let v = o.retainAvailable { l.retainAvailable = v }
        guard l.receiveMaximum > 0, l.maxInflightOutbound > 0 else {
            throw ConfigurationError("limits.receive_maximum and limits.max_inflight_outbound must be at least 1")
        }
        guard l.minKeepAlive <= l.maxKeepAlive, l.maxKeepAlive > 0 else {
            throw ConfigurationError("limits.min_keep_alive must not exceed limits.max_keep_alive (> 0)")
        }
        guard l.maxPacketSize >= 64 else { throw ConfigurationError("limits.max_packet_size must be at least 64") }
        return l
    }
}

/// One row of `--peers`: `id@host:raftPort:busPort[:gossipPort]`.
struct PeerSpec: Sendable, Hashable {
    var id: UInt64
    var host: String
    var raftPort: Int
    var busPort: Int
    /// UDP + TCP gossip port (default: the bus port + 1).
    var gossipPort: Int

    init(id: UInt64, host: String, raftPort: Int, busPort: Int, gossipPort: Int? = nil) {
        self.id = id
        self.host = host
        self.raftPort = raftPort
        self.busPort = busPort
        self.gossipPort = gossipPort ?? busPort + 1
    }

    /// Parses `id@host:raftPort:busPort[:gossipPort]` (host without colons: IPv4 or a name).
    init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let bad = ConfigurationError("peer '\(trimmed)' is not id@host:raftPort:busPort[:gossipPort]")
        let at = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard at.count == 2, let id = UInt64(at[0]), id > 0 else { throw bad }
        let parts = at[1].split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4, !parts[0].isEmpty, let raft = Int(parts[1]),
              let bus = Int(parts[2]), (1...65535).contains(raft), (1...65535).contains(bus) else { throw bad }
        var gossip: Int?
        if parts.count == 4 {
            guard let g = Int(parts[3]), (1...65535).contains(g) else { throw bad }
            gossip = g
        }
        self.init(id: id, host: String(parts[0]), raftPort: raft, busPort: bus, gossipPort: gossip)
    }

    /// `--peers a,b,c` and YAML `peers: [a, b]` (entries may themselves hold commas).
    static func parseList(_ entries: [String]) throws -> [PeerSpec] {
        try entries.flatMap { $0.split(separator: ",") }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { try PeerSpec(parsing: String($0)) }
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
