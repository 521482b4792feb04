/// The piggyback queue: membership updates and application broadcasts waiting to ride on outgoing datagrams.
/// Each entry goes out at most `limit` times (the caller passes `retransmitMult × ceil(log10(n + 1))`); the
/// least-sent go first, newest first among equals; a newer entry with the same key replaces the older one.
struct BroadcastQueue: Sendable {
    enum Key: Hashable, Sendable {
        /// The latest alive/suspect/dead/left update about one member supersedes the previous.
        case member(GossipNodeID)
        /// An application broadcast with a `GossipBroadcast.key`, per origin.
        case app(origin: GossipNodeID, key: [UInt8])
        /// Never superseded.
        case unique(UInt64)
    }

    struct Entry: Sendable {
        var bytes: [UInt8]
        var transmits: Int
        var order: UInt64
        /// For keyed application broadcasts: an older sequence number never replaces a newer one.
        var appSequence: UInt64
    }

    private(set) var entries: [Key: Entry] = [:]
    private var nextOrder: UInt64 = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Returns the number of entries dropped to stay within capacity.
    @discardableResult
    mutating func push(_ key: Key, bytes: [UInt8], appSequence: UInt64 = 0) -> Int {
        if case .app = key, let existing = entries[key], existing.appSequence > appSequence { return 0 }
        nextOrder += 1
        entries[key] = Entry(bytes: bytes, transmits: 0, order: nextOrder, appSequence: appSequence)
        guard entries.count > capacity else { return 0 }
        let excess = entries.count - capacity
        let victims = entries.sorted { ($0.value.transmits, $1.value.order) > ($1.value.transmits, $0.value.order) }
            .prefix(excess).map(\.key)
        for k in victims { entries[k] = nil }
        return excess
    }

    func contains(_ key: Key) -> Bool { entries[key] != nil }

    /// Appends to `datagram` as many queued items as fit in `maxSize` bytes in all, counts a transmission for each,
    /// and retires those sent `limit` times.
    mutating func fill(_ datagram: inout [UInt8], maxSize: Int, limit: Int) {
        guard !entries.isEmpty, datagram.count < maxSize else { return }
        let order = entries.sorted {
            $0.value.transmits != $1.value.transmits ? $0.value.transmits < $1.value.transmits : $0.value.order > $1.value.order
        }
        for (key, entry) in order {
            let room = maxSize - datagram.count
            if room < 3 { break }
            guard entry.bytes.count <= room else { continue }
            datagram += entry.bytes
            if entry.transmits + 1 >= limit {
                entries[key] = nil
            } else {
                entries[key]!.transmits += 1
            }
        }
    }
}
