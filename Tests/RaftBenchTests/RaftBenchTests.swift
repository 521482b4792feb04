import ClusterState
import Testing

@testable import RaftBench

@Suite("RaftBench: the pieces that decide what the figures mean")
struct RaftBenchTests {
    @Test("benchmark commands encode to exactly the requested size, for every proposer")
    func commandSize() throws {
        for proposer in [0, 7, 63, 999, 1023, 65_535] {
            for bytes in [64, 100, 1000] {
                let command = try BenchCommand.make(proposer: proposer, bytes: bytes)
                #expect(command.encoded().count == bytes)
                guard case .setRetained(let message) = command else {
                    Issue.record("not a setRetained: \(command)")
                    continue
                }
                #expect(!message.payload.isEmpty, "an empty payload would clear the topic instead")
            }
        }
        #expect(throws: BenchError.self) { try BenchCommand.make(proposer: 0, bytes: 20) }
    }

    @Test("percentiles are nearest-rank over all samples")
    func percentiles() {
        var samples = (1...1000).reversed().map { UInt64($0) * 1000 }  // 1 µs … 1000 µs, unsorted
        let summary = LatencySummary(nanoseconds: &samples)
        #expect(summary.samples == 1000)
        #expect(summary.p50Us == 500)
        #expect(summary.p90Us == 900)
        #expect(summary.p99Us == 990)
        #expect(summary.p999Us == 999)
        #expect(summary.maxUs == 1000)
        #expect(summary.meanUs == 500.5)
        var one: [UInt64] = [42_000]
        #expect(LatencySummary(nanoseconds: &one).p50Us == 42)
        var none: [UInt64] = []
        #expect(LatencySummary(nanoseconds: &none).p99Us == 0)
    }

    @Test("table numbers are grouped and latencies scaled")
    func formatting() {
        #expect(RaftBench.grouped(1_234_567) == "1,234,567")
        #expect(RaftBench.grouped(999) == "999")
        #expect(RaftBench.ms(850) == "850 µs")
        #expect(RaftBench.ms(12_345) == "12.3 ms")
    }
}
