import Logging
import NIOCore
import TLSConfig

/// Everything a TLS listener (8883, 8443, …) decides, shared by its connections.
public struct TLSListenerConfiguration: Sendable {
    /// Whether a client certificate is asked for, and whether it must be sent: by default, and per negotiated ALPN
    /// protocol. A certificate that *is* sent is always verified and decided, whatever the mode.
    public enum ClientCertificateMode: Sendable, Equatable {
        /// Asked for; a client without one is refused at the handshake (8883, `x-amzn-mqtt-ca`, `x-amzn-http-ca`).
        case required
        /// Asked for; a client may go without (HTTP and WebSocket on 8443: the request is then authenticated
        /// otherwise, or refused by the application).
        case requested
        /// Not asked for (`mqtt`: custom authorizers authenticate at CONNECT).
        case none
    }

    public struct ClientCertificateRequirement: Sendable {
        public var byDefault: ClientCertificateMode
        public var byALPN: [String: ClientCertificateMode]
        public init(byDefault: ClientCertificateMode, byALPN: [String: ClientCertificateMode] = [:]) {
            self.byDefault = byDefault
            self.byALPN = byALPN
        }
        /// 8883: always.
        public static let required = Self(byDefault: .required)
        /// 8443 (AWS's 443): by ALPN. Without ALPN (plain HTTPS, WebSocket) a certificate is welcome but optional.
        public static let awsALPN = Self(
            byDefault: .requested,
            byALPN: ["x-amzn-mqtt-ca": .required, "x-amzn-http-ca": .required, "mqtt": .none,
                     "http/1.1": .requested])

        func mode(alpn: String?) -> ClientCertificateMode { alpn.flatMap { byALPN[$0] } ?? byDefault }
    }

    /// AWS's ALPN protocol ids, in the server's order of preference.
    public static let awsALPNPreference = ["x-amzn-mqtt-ca", "mqtt", "x-amzn-http-ca", "http/1.1"]

    /// The context a connection starts with (it serves a client whose SNI the selector maps back to it, and the
    /// handshake always passes through `selectContext` first).
    public var initialContext: TLSServerContext
    /// SNI (nil: none sent) → the context to serve, or nil to refuse with `unrecognized_name`. Called on the
    /// connection's event loop during the handshake: it must be fast and must not block.
    public var selectContext: @Sendable (String?) -> TLSServerContext?
    /// The server's ALPN preference; empty: ALPN is not negotiated on this listener.
    public var alpnPreference: [String]
    public var clientCertificate: ClientCertificateRequirement
    /// Decides a presented client certificate (status ACTIVE for the tenant, chains to a registered CA, …).
    public var decideCertificate: @Sendable (CertificateCheck) -> CertificateDecision
    public var logger: Logger
    /// How long a client has to complete the handshake before it is refused (`handshake_timeout`), so a socket
    /// that sends nothing, or half a ClientHello, cannot hold a connection slot.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Called for every refusal, after logging and counting (tests and audit hooks).
    public var onRefusal: (@Sendable (TLSRefusalReason) -> Void)?

    public init(
        initialContext: TLSServerContext,
        selectContext: @escaping @Sendable (String?) -> TLSServerContext?,
        alpnPreference: [String] = [],
        clientCertificate: ClientCertificateRequirement = .required,
        decideCertificate: @escaping @Sendable (CertificateCheck) -> CertificateDecision,
        logger: Logger = Logger(label: "flotilla.tls"),
        onRefusal: (@Sendable (TLSRefusalReason) -> Void)? = nil
    ) {
        self.initialContext = initialContext
        self.selectContext = selectContext
        self.alpnPreference = alpnPreference
        self.clientCertificate = clientCertificate
        self.decideCertificate = decideCertificate
        self.logger = logger
        self.onRefusal = onRefusal
    }

    /// Selects contexts with a pure `SNISelector` (exact, wildcard, then its fallback).
    public init(
        selector: SNISelector<TLSServerContext>,
        initialContext: TLSServerContext,
        alpnPreference: [String] = [],
        clientCertificate: ClientCertificateRequirement = .required,
        decideCertificate: @escaping @Sendable (CertificateCheck) -> CertificateDecision,
        logger: Logger = Logger(label: "flotilla.tls"),
        onRefusal: (@Sendable (TLSRefusalReason) -> Void)? = nil
    ) {
        self.init(
            initialContext: initialContext, selectContext: { selector.select($0).entry },
            alpnPreference: alpnPreference, clientCertificate: clientCertificate,
            decideCertificate: decideCertificate, logger: logger, onRefusal: onRefusal)
    }
}
