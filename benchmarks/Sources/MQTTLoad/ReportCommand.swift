import ArgumentParser
import Foundation

/// Turns the JSON lines of two brokers into a markdown table with one candidate/baseline ratio per row.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Markdown comparison table from mqtt-load JSON lines."
    )

    @Argument(help: "Files with one mqtt-load JSON result per line (other lines are ignored).")
    var files: [String]
    @Option(help: "Label of the reference broker (the ratio's denominator).")
    var baseline = "mosquitto"
    @Option(help: "Label of the broker under test (the ratio's numerator).")
    var candidate = "flotilla"

    func run() throws {
        var results: [RunResult] = []
        for file in self.files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("{") {
                if let result = try? RunResult.decode(jsonLine: line) { results.append(result) }
            }
        }
        print(Self.table(results, baseline: self.baseline, candidate: self.candidate))
    }

    private struct Metric {
        let name: String
        let value: (RunResult) -> Double?
        let format: (Double) -> String
    }

    static func table(_ results: [RunResult], baseline: String, candidate: String) -> String {
        let throughput = Metric(name: "delivered msg/s ↑", value: { $0.receivedPerS }, format: Format.rate)
        let p50 = Metric(name: "p50 latency ↓", value: { $0.p50Us }, format: Format.micros)
        let p99 = Metric(name: "p99 latency ↓", value: { $0.p99Us }, format: Format.micros)
        let perConnection = Metric(
            name: "KiB per idle connection ↓",
            value: { $0.kbPerConnection },
            format: { Format.number($0, digits: 2) }
        )
        let connectRate = Metric(name: "connects/s ↑", value: { $0.connectsPerS }, format: Format.rate)

        // Row order: scenarios in the order they first appear.
        var keys: [String] = []
        for result in results where !keys.contains(Self.rowKey(result)) { keys.append(Self.rowKey(result)) }
        var lines = [
            "| scenario | metric | \(baseline) | \(candidate) | \(candidate) / \(baseline) |",
            "|---|---|---:|---:|---:|",
        ]
        for key in keys {
            let base = results.last { $0.broker == baseline && Self.rowKey($0) == key }
            let cand = results.last { $0.broker == candidate && Self.rowKey($0) == key }
            let scenario = base?.scenario ?? cand?.scenario ?? ""
            let metrics = scenario == "idle" ? [perConnection, connectRate] : [throughput, p50, p99]
            for metric in metrics {
                let b = base.flatMap(metric.value)
                let c = cand.flatMap(metric.value)
                let ratio = (b != nil && c != nil && b! != 0) ? Format.number(c! / b!, digits: 2) : "—"
                lines.append(
                    "| \(key) | \(metric.name) | \(Self.cell(b, base, metric)) | \(Self.cell(c, cand, metric)) | \(ratio) |"
                )
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func rowKey(_ result: RunResult) -> String {
        if result.scenario == "idle" { return "idle \(result.connections ?? 0)" }
        return "\(result.scenario) qos\(result.qos ?? 0)"
    }

    /// A value, "—" when missing, and a marker when the run reported errors.
    private static func cell(_ value: Double?, _ result: RunResult?, _ metric: Metric) -> String {
        guard let result else { return "—" }
        let text = value.map(metric.format) ?? "—"
        return result.errors > 0 ? "\(text) (\(result.errors) err)" : text
    }
}
