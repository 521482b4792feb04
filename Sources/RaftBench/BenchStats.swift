import Foundation

/// Latency percentiles of one run, in microseconds (nearest-rank: the smallest sample with at least p% of the
/// samples at or below it).
public struct LatencySummary: Codable, Sendable, Equatable {
    public var samples: Int
    public var meanUs: Double
    public var p50Us: Double
    public var p90Us: Double
    public var p99Us: Double
    public var p999Us: Double
    public var maxUs: Double

    /// Summarises latencies given in nanoseconds; sorts `nanoseconds` in place.
    public init(nanoseconds: inout [UInt64]) {
        nanoseconds.sort()
        samples = nanoseconds.count
        func at(_ p: Double) -> Double {
            guard !nanoseconds.isEmpty else { return 0 }
            let rank = Int((p * Double(nanoseconds.count)).rounded(.up))
            return Double(nanoseconds[min(max(rank, 1), nanoseconds.count) - 1]) / 1000
        }
        meanUs = nanoseconds.isEmpty ? 0 : Double(nanoseconds.reduce(0, &+)) / Double(nanoseconds.count) / 1000
        p50Us = at(0.50)
        p90Us = at(0.90)
        p99Us = at(0.99)
        p999Us = at(0.999)
        maxUs = Double(nanoseconds.last ?? 0) / 1000
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`; nil if unreadable.
func processCPUSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (user + system) / ticks
}

/// Busy and total jiffies of the whole machine (all cores), from the first line of `/proc/stat`.
func machineCPUJiffies() -> (busy: Double, total: Double)? {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
          let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
    else { return nil }
    let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard values.count >= 5 else { return nil }
    // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
    let total = values.prefix(8).reduce(0, +)
    return (total - values[3] - values[4], total)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` shows them.
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Nanoseconds in a duration (non-negative durations of less than ~290 years).
extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
    var seconds: Double { Double(nanoseconds) / 1e9 }
}
