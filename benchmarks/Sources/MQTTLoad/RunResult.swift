import Foundation

/// One run's figures: printed as one JSON line (snake_case keys) and read back by `mqtt-load report`.
struct RunResult: Codable, Sendable {
    var broker: String
    var scenario: String
    var qos: Int?
    var payload: Int?
    var durationS: Double
    var warmupS: Double?
    var threads: Int
    /// "tls" for `--tls` runs; nil (older lines) or "tcp" otherwise.
    var transport: String?
    var publishers: Int?
    /// Client settings that shape the load (identical for every broker of a comparison).
    var maxInflight: Int?
    var ratePerPublisher: Int?
    var sndbuf: Int?
    var rcvbuf: Int?
    var subscribers: Int?
    /// Messages written by publishers inside the measurement window, per second.
    var publishedPerS: Double?
    /// Messages delivered to subscribers inside the measurement window, per second (all subscribers together).
    var receivedPerS: Double?
    var published: UInt64?
    var received: UInt64?
    /// All messages written / delivered from the first PUBLISH to the end of the run, warm-up included.
    var publishedTotal: UInt64?
    var receivedTotal: UInt64?
    var p50Us: Double?
    var p99Us: Double?
    var p999Us: Double?
    var maxUs: Double?
    var latencySamples: UInt64?
    var errors: Int
    var errorDetail: String?
    /// Broker CPU time over the window as a percentage of one core (needs --broker-pid).
    var brokerCpuPct: Double?
    /// mqtt-load's own CPU time over the window as a percentage of one core.
    var loadgenCpuPct: Double?
    var loadavg1m: Double?
    // idle scenario
    var connections: Int?
    var connected: Int?
    var connectSeconds: Double?
    var connectsPerS: Double?
    var rssBeforeKb: Int?
    var rssAfterKb: Int?
    var kbPerConnection: Double?
    var openFileLimit: UInt64?

    func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self), let line = String(data: data, encoding: .utf8) else {
            return "{\"errors\":1,\"error_detail\":\"could not encode the result\"}"
        }
        return line
    }

    static func decode(jsonLine: Substring) throws -> RunResult {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(RunResult.self, from: Data(jsonLine.utf8))
    }

    func humanLine() -> String {
        var parts = ["\(self.broker) \(self.scenario)"]
        if let qos { parts[0] += " qos\(qos)" }
        if let payload { parts[0] += " \(payload)B" }
        if let transport, transport != "tcp" { parts[0] += " over \(transport)" }
        if let receivedPerS, let publishedPerS {
            parts.append("delivered \(Format.rate(receivedPerS)) msg/s, published \(Format.rate(publishedPerS)) msg/s")
        }
        if let p50Us, let p99Us, let p999Us {
            parts.append(
                "latency p50 \(Format.micros(p50Us)) p99 \(Format.micros(p99Us)) p999 \(Format.micros(p999Us))"
            )
        }
        if let connected, let connections, let connectsPerS {
            parts.append("\(connected)/\(connections) connected at \(Format.rate(connectsPerS))/s")
        }
        if let kbPerConnection, let rssBeforeKb, let rssAfterKb {
            parts.append(
                "broker RSS \(rssBeforeKb) → \(rssAfterKb) KiB = \(Format.number(kbPerConnection, digits: 2)) KiB/conn"
            )
        }
        if let brokerCpuPct { parts.append("broker CPU \(Format.number(brokerCpuPct, digits: 0))%") }
        if let loadgenCpuPct { parts.append("load CPU \(Format.number(loadgenCpuPct, digits: 0))%") }
        parts.append("errors \(self.errors)" + (self.errorDetail.map { " (\($0))" } ?? ""))
        return parts.joined(separator: "; ")
    }
}

/// Number formatting shared by the human line and the report.
enum Format {
    static func number(_ value: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Rates get thousands separators and no decimals: 123,456.
    static func rate(_ value: Double) -> String {
        let whole = Int(value.rounded())
        let digits = Array(String(abs(whole)))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (whole < 0 ? "-" : "") + out
    }

    static func micros(_ value: Double) -> String {
        value >= 10_000 ? "\(Format.number(value / 1_000, digits: 1)) ms" : "\(Int(value.rounded())) µs"
    }
}
