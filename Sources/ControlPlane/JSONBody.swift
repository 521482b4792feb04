#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON in and out of the control plane (Codable). Output has sorted keys, so equal answers are equal bytes, and
/// unescaped slashes (ARNs read as they are).
enum JSONBody {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            // Our response types hold strings, numbers, maps and arrays only: encoding cannot fail.
            preconditionFailure("encoding \(T.self) failed: \(error)")
        }
    }

    /// Decodes a request body. An empty body is `{}` (botocore sends none when no member is set).
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> Result<T, AWSError> {
        let data = bytes.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } ? Data("{}".utf8)
            : Data(bytes)
        do {
            return .success(try JSONDecoder().decode(type, from: data))
        } catch let error as DecodingError {
            return .failure(.invalidRequest("could not parse the request body: \(describe(error))"))
        } catch {
            return .failure(.invalidRequest("could not parse the request body"))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : keys.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)) is not a \(Self.name(type))"
        case .valueNotFound(let type, let context): return "\(path(context)) must be a \(Self.name(type))"
        case .keyNotFound(let key, _): return "\(key.stringValue) is missing"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)) is not valid"
        @unknown default: return "not valid JSON"
        }
    }

    private static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Bool.Type: "boolean"
        case is Int64.Type, is Int.Type, is UInt64.Type: "whole number"
        default: type is [String: String].Type ? "map of strings" : "JSON object"
        }
    }
}
