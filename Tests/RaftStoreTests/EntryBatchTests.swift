import Testing

@testable import RaftStore

@Suite struct EntryBatchTests {
    @Test func roundTripKeepsOrderAndEmptyCommands() throws {
        let commands: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 1000), [9]]
        let bytes = EntryBatch.encode(incarnation: 42, sequence: 7, commands: commands)
        #expect(bytes.count == EntryBatch.encodedSize(commands.map(\.count)))
        var seen: [[UInt8]] = []
        let header = try bytes.withUnsafeBytes { raw in try EntryBatch.decode(raw) { seen.append(Array($0)) } }
        #expect(header == .init(incarnation: 42, sequence: 7, count: 4))
        #expect(seen == commands)
    }

    @Test func zeroPaddingToEightBytesIsIgnored() throws {
        var bytes = EntryBatch.encode(incarnation: 3, sequence: 4, commands: [[1, 2, 3]])
        bytes += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
        #expect(bytes.count % 8 == 0)
        var seen: [[UInt8]] = []
        _ = try bytes.withUnsafeBytes { raw in try EntryBatch.decode(raw) { seen.append(Array($0)) } }
        #expect(seen == [[1, 2, 3]])
    }

    @Test func unknownVersionIsRejectedBeforeApplyingAnything() {
        var bytes = EntryBatch.encode(incarnation: 1, sequence: 1, commands: [[1]])
        bytes[0] = 2
        var applied = 0
        #expect(throws: EntryBatch.DecodeError.unknownVersion(2)) {
            try bytes.withUnsafeBytes { raw in _ = try EntryBatch.decode(raw) { _ in applied += 1 } }
        }
        #expect(applied == 0)
    }

    @Test func truncatedBatchAppliesNothing() {
        let bytes = EntryBatch.encode(incarnation: 1, sequence: 1, commands: [[1, 2], [3, 4, 5]])
        var applied = 0
        #expect(throws: EntryBatch.DecodeError.truncated) {
            try bytes.dropLast().withUnsafeBytes { raw in _ = try EntryBatch.decode(raw) { _ in applied += 1 } }
        }
        #expect(applied == 0)
    }
}
