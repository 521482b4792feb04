/// The payload of one raft command entry: several proposals packed together (application-level batching).
///
/// ```
/// u8  version (= 1)
/// u64 incarnation   random per RaftNode instance: identifies the proposer's in-flight table
/// u64 sequence      the batch number in that table
/// u32 count
/// count × (u32 length, length bytes)          all integers little-endian
/// zero padding to a multiple of 8 bytes         (libraft 0.15 needs it; decode ignores trailing bytes)
/// ```
/// Every node applies every command; only the node whose incarnation matches resolves the proposers' waits.
/// The incarnation changes on restart, so entries replayed from the log never match a new proposal.
enum EntryBatch {
    static let version: UInt8 = 1
    static let headerSize = 1 + 8 + 8 + 4

    struct Header: Equatable {
        var incarnation: UInt64
        var sequence: UInt64
        var count: UInt32
    }

    enum DecodeError: Error, Equatable {
        case unknownVersion(UInt8)
        case truncated
    }

    /// Bytes needed for a batch holding commands of these sizes.
    static func encodedSize(_ commandSizes: some Sequence<Int>) -> Int {
        commandSizes.reduce(headerSize) { $0 + 4 + $1 }
    }

    /// Writes the batch into `buffer`, which must be exactly `encodedSize` bytes long.
    static func encode(
        into buffer: UnsafeMutableRawBufferPointer, incarnation: UInt64, sequence: UInt64,
        commands: some Collection<[UInt8]>
    ) {
        var offset = 0
        func put<T: FixedWidthInteger>(_ value: T) {
            buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
        }
        put(version)
        put(incarnation)
        put(sequence)
        put(UInt32(commands.count))
        for command in commands {
            put(UInt32(command.count))
            if !command.isEmpty {
                command.withUnsafeBytes { bytes in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + bytes.count]).copyMemory(from: bytes)
                }
                offset += command.count
            }
        }
        precondition(offset == buffer.count, "EntryBatch.encode: buffer size mismatch")
    }

    /// Encodes into a fresh array (tests and tools).
    static func encode(incarnation: UInt64, sequence: UInt64, commands: [[UInt8]]) -> [UInt8] {
        let size = encodedSize(commands.map(\.count))
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            encode(
                into: UnsafeMutableRawBufferPointer(buffer), incarnation: incarnation, sequence: sequence,
                commands: commands)
            initialized = size
        }
    }

    /// Validates the whole batch first, then calls `body` for each command in order; so a malformed entry
    /// applies nothing.
    static func decode(
        _ raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(DecodeError) -> Header {
        guard raw.count >= 1 else { throw .truncated }
        let version = raw.load(fromByteOffset: 0, as: UInt8.self)
        guard version == Self.version else { throw .unknownVersion(version) }
        guard raw.count >= headerSize else { throw .truncated }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        let header = Header(incarnation: u64(1), sequence: u64(9), count: u32(17))
        var offset = headerSize
        for _ in 0..<header.count {
            guard offset + 4 <= raw.count else { throw .truncated }
            let length = Int(u32(offset))
            offset += 4 + length
            guard offset <= raw.count else { throw .truncated }
        }
        offset = headerSize
        for _ in 0..<header.count {
            let length = Int(u32(offset))
            body(UnsafeRawBufferPointer(rebasing: raw[offset + 4..<offset + 4 + length]))
            offset += 4 + length
        }
        return header
    }
}
