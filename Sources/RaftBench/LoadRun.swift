import ClusterNode
import ClusterService
import ClusterState
import Foundation

/// One closed-loop run: `concurrency` proposers, each proposing its next command as soon as the previous one
/// returned, through `service` (node 1). A command counts when its `propose` returned inside the window
/// [start + warmup, start + warmup + duration): committed, and applied on node 1. Latency = the `propose` call
/// until it returned. Proposers stop at the end of the window; what is still in flight then is not counted.
struct LoadRun {
    var concurrency: Int
    var commandBytes: Int
    var warmup: Duration
    var duration: Duration
    /// Processes whose CPU time to report besides this one (the child nodes), by label.
    var otherProcesses: [(label: String, pid: Int32)]

    struct ProposerTally: Sendable {
        var latencies: [UInt64] = []
        var errors: [String: Int] = [:]
    }

    struct Samples: Sendable {
        var commitAtStart: UInt64 = 0
        var commitAtEnd: UInt64 = 0
        var queued: [Int] = []
        var inFlightBytes: [Int] = []
        var cpuAtStart: [String: Double] = [:]
        var cpuAtEnd: [String: Double] = [:]
        var machineAtStart: (busy: Double, total: Double)?
        var machineAtEnd: (busy: Double, total: Double)?
        var windowStart: ContinuousClock.Instant?
        var windowEnd: ContinuousClock.Instant?
    }

    func run(through service: ClusterService) async throws -> RaftBenchRow.Measured {
        let commands = try (0..<concurrency).map { try BenchCommand.make(proposer: $0, bytes: commandBytes) }
        let clock = ContinuousClock()
        let start = clock.now
        let windowStart = start + warmup
        let windowEnd = windowStart + duration
        // Room for 200k commands/s without regrowing the sample arrays.
        let reserve = min(Int(200_000 * duration.seconds) / max(concurrency, 1), 1 << 20)

        async let sampled = sample(service, from: windowStart, to: windowEnd)
        let tallies = await withTaskGroup(of: ProposerTally.self, returning: [ProposerTally].self) { group in
            for command in commands {
                group.addTask {
                    var tally = ProposerTally()
                    tally.latencies.reserveCapacity(reserve)
                    while true {
                        let sent = clock.now
                        if sent >= windowEnd { break }
                        let answer: Result<ClusterOutcome, ClusterServiceError>
                        do throws(ClusterServiceError) {
                            answer = .success(try await service.propose(command))
                        } catch {
                            answer = .failure(error)
                        }
                        let done = clock.now
                        guard done >= windowStart && done < windowEnd else { continue }
                        switch answer {
                        case .success(.success):
                            tally.latencies.append((done - sent).nanoseconds)
                        case .success(.failure(let failure)):
                            tally.errors["outcome \(failure)", default: 0] += 1
                        case .failure(let error):
                            tally.errors["\(error)", default: 0] += 1
                            // A failing cluster answers at once; do not spin on it.
                            try? await Task.sleep(for: .milliseconds(1))
                        }
                    }
                    return tally
                }
            }
            var all: [ProposerTally] = []
            for await tally in group { all.append(tally) }
            return all
        }
        let samples = try await sampled

        var latencies: [UInt64] = []
        latencies.reserveCapacity(tallies.reduce(0) { $0 + $1.latencies.count })
        var errors: [String: Int] = [:]
        for tally in tallies {
            latencies.append(contentsOf: tally.latencies)
            errors.merge(tally.errors, uniquingKeysWith: +)
        }
        let sampledWindow = (samples.windowEnd ?? windowEnd) - (samples.windowStart ?? windowStart)
        let committed = latencies.count
        let entries = samples.commitAtEnd &- samples.commitAtStart
        var cpu: [String: Double] = [:]
        for (label, atStart) in samples.cpuAtStart {
            if let atEnd = samples.cpuAtEnd[label] { cpu[label] = 100 * (atEnd - atStart) / sampledWindow.seconds }
        }
        var machineBusy: Double?
        if let a = samples.machineAtStart, let b = samples.machineAtEnd, b.total > a.total {
            machineBusy = 100 * (b.busy - a.busy) / (b.total - a.total)
        }
        func mean(_ values: [Int]) -> Double {
            values.isEmpty ? 0 : Double(values.reduce(0, +)) / Double(values.count)
        }
        return RaftBenchRow.Measured(
            windowS: duration.seconds, committed: committed, commandsPerS: Double(committed) / duration.seconds,
            latency: LatencySummary(nanoseconds: &latencies), errors: errors, logEntries: entries,
            commandsPerEntry: entries == 0 ? 0 : Double(committed) / Double(entries),
            meanQueuedProposals: mean(samples.queued), meanInFlightKibibytes: mean(samples.inFlightBytes) / 1024,
            cpuPercent: cpu, machineBusyPercent: machineBusy)
    }

    /// Reads node 1's status at the window's edges (commit index: log entries committed meanwhile, barriers and
    /// configuration entries included) and every 100 ms inside it (proposals queued behind the in-flight budget,
    /// bytes in flight: both zero on a follower, which forwards), and CPU times at the edges.
    private func sample(_ service: ClusterService, from: ContinuousClock.Instant,
                        to: ContinuousClock.Instant) async throws -> Samples {
        let clock = ContinuousClock()
        var samples = Samples()
        func cpuTimes() -> [String: Double] {
            var times: [String: Double] = [:]
            times["node-1+load"] = processCPUSeconds(pid: getpid())
            for (label, pid) in otherProcesses { times[label] = processCPUSeconds(pid: pid) }
            return times
        }
        try await Task.sleep(until: from, clock: clock)
        samples.windowStart = clock.now
        samples.cpuAtStart = cpuTimes()
        samples.machineAtStart = machineCPUJiffies()
        samples.commitAtStart = await service.status().commitIndex
        var next = from + .milliseconds(100)
        while next < to {
            try await Task.sleep(until: next, clock: clock)
            let status = await service.status()
            samples.queued.append(status.queuedProposals)
            samples.inFlightBytes.append(status.inFlightBytes)
            next += .milliseconds(100)
        }
        try await Task.sleep(until: to, clock: clock)
        samples.windowEnd = clock.now
        samples.cpuAtEnd = cpuTimes()
        samples.machineAtEnd = machineCPUJiffies()
        samples.commitAtEnd = await service.status().commitIndex
        return samples
    }
}
