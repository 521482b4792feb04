import Broker
import Foundation
import IoTTypes
import MQTTCodec
import NIOCore
import TopicTrie

/// A data-plane failure answered over HTTP the way botocore's `iot-data` model reads it: status, the error shape
/// in `x-amzn-ErrorType`, and `{"message": …}`.
struct DataPlaneError: Error, Equatable, Sendable {
    var status: Int
    var type: String
    var message: String

    static func invalidRequest(_ m: String) -> Self { Self(status: 400, type: "InvalidRequestException", message: m) }
    static func unauthorized(_ m: String) -> Self { Self(status: 401, type: "UnauthorizedException", message: m) }
    static func forbidden(_ m: String) -> Self { Self(status: 403, type: "ForbiddenException", message: m) }
    static func notFound(_ m: String) -> Self { Self(status: 404, type: "ResourceNotFoundException", message: m) }
    static func methodNotAllowed(_ m: String) -> Self {
        Self(status: 405, type: "MethodNotAllowedException", message: m)
    }
    static func tooLarge(_ m: String) -> Self { Self(status: 413, type: "RequestEntityTooLargeException", message: m) }
    static func unavailable(_ m: String) -> Self {
        Self(status: 503, type: "ServiceUnavailableException", message: m)
    }
}

/// `POST /topics/{topic}?qos=&retain=&contentType=&responseTopic=&messageExpiry=` (AWS-IOT-SPEC §1.10) → the
/// broker message it publishes. A pure function of the request and `now`: the HTTP shell does the I/O.
enum DevicePublishRequest {
    /// - Parameters:
    ///   - encodedTopic: the path after `/topics/`, still percent-encoded (botocore sends `/` as `%2F`).
    ///   - query: the raw query string (no `?`), or empty.
    ///   - header: the request's header lookup (case-insensitive name → first value).
    static func message(
        encodedTopic: String, query: String, header: (String) -> String?, body: ByteBuffer, tenant: TenantID,
        now: Timestamp, limits: BrokerLimits
    ) throws(DataPlaneError) -> BrokerMessage {
        guard let topic = PercentEncoding.decode(encodedTopic) else { throw .invalidRequest("The topic is not valid UTF-8") }
        do {
            try Topic.validateName(topic, limits: limits.topic)
        } catch {
            throw .invalidRequest("Invalid topic name: \(error)")
        }
        var qos = QoS.atMostOnce
        var retain = false
        var properties = MQTTProperties()
        var expiresAt: Timestamp?
        guard let items = PercentEncoding.queryItems(query) else { throw .invalidRequest("Malformed query string") }
        for (name, value) in items {
            switch name {
            case "qos":
                switch value {
                case "0": qos = .atMostOnce
                case "1": qos = .atLeastOnce
                default: throw .invalidRequest("qos must be 0 or 1")
                }
            case "retain":
                switch value.lowercased() {
                case "true": retain = true
                case "false": retain = false
                default: throw .invalidRequest("retain must be true or false")
                }
            case "contentType":
                properties.append(.contentType(value))
            case "responseTopic":
                do {
                    try Topic.validateName(value, limits: limits.topic)
                } catch {
                    throw .invalidRequest("Invalid responseTopic: \(error)")
                }
                properties.append(.responseTopic(value))
            case "messageExpiry":
                guard let seconds = UInt32(value) else { throw .invalidRequest("messageExpiry must be seconds") }
                expiresAt = now.adding(seconds: Int64(min(seconds, limits.maxMessageExpiry)))
            default:
                continue  // SDKs add their own parameters; AWS ignores unknown ones too
            }
        }
        if retain && !limits.retainAvailable { throw .invalidRequest("Retained messages are not available") }
        if retain && topic.hasPrefix("$") { throw .invalidRequest("Reserved topics cannot be retained") }
        if body.readableBytes > Int(limits.maxPacketSize) {
            throw .tooLarge("The payload is over \(limits.maxPacketSize) bytes")
        }
        if let format = header("x-amz-mqtt5-payload-format-indicator") {
            switch format {
            case "UNSPECIFIED_BYTES": properties.append(.payloadFormatIndicator(0))
            case "UTF8_DATA":
                guard String(validating: body.readableBytesView, as: UTF8.self) != nil else {
                    throw .invalidRequest("The payload is not valid UTF-8 (payload format UTF8_DATA)")
                }
                properties.append(.payloadFormatIndicator(1))
            default: throw .invalidRequest("x-amz-mqtt5-payload-format-indicator: UNSPECIFIED_BYTES or UTF8_DATA")
            }
        }
        if let encoded = header("x-amz-mqtt5-correlation-data") {
            guard let data = Data(base64Encoded: encoded) else {
                throw .invalidRequest("x-amz-mqtt5-correlation-data is not base64")
            }
            properties.append(.correlationData(ByteBuffer(bytes: data)))
        }
        if let encoded = header("x-amz-mqtt5-user-properties") {
            for (k, v) in try userProperties(encoded) { properties.append(.userProperty(k, v)) }
        }
        return BrokerMessage(tenant: tenant, topic: topic, payload: body, qos: qos, retain: retain,
                             properties: properties, expiresAt: expiresAt, publisherClientID: "")
    }

    /// base64(JSON array of one-member objects), e.g. `[{"k1":"v1"},{"k2":"v2"}]`; order kept.
    static func userProperties(_ encoded: String) throws(DataPlaneError) -> [(String, String)] {
        let invalid = DataPlaneError.invalidRequest(
            "x-amz-mqtt5-user-properties must be base64 of a JSON array of {\"key\":\"value\"} objects")
        guard let data = Data(base64Encoded: encoded),
            let array = try? JSONSerialization.jsonObject(with: data) as? [Any]
        else { throw invalid }
        var out: [(String, String)] = []
        for element in array {
            guard let object = element as? [String: Any] else { throw invalid }
            for (k, v) in object.sorted(by: { $0.key < $1.key }) {
                guard let s = v as? String else { throw invalid }
                out.append((k, s))
            }
        }
        return out
    }
}
