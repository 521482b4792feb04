import Broker
import NIOConcurrencyHelpers
import NIOCore

/// Deliveries bound for connections on one event loop, handed over from other loops in batches: producers
/// append under a short lock, and only the producer that finds the mailbox empty schedules a drain task. Under
/// load, thousands of routed messages cost one task per loop tick instead of one task each.
final class LoopMailbox: Sendable {
    let eventLoop: any EventLoop
    private let box = NIOLockedValueBox<[(ConnectionHandle, OutboundMessage)]>([])

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func post(_ handle: ConnectionHandle, _ outbound: OutboundMessage) {
        let wasEmpty = box.withLockedValue { q -> Bool in
            q.append((handle, outbound))
            return q.count == 1
        }
        if wasEmpty { eventLoop.execute { self.drain() } }
    }

    func post(_ batch: [(ConnectionHandle, OutboundMessage)]) {
        let wasEmpty = box.withLockedValue { q -> Bool in
            let empty = q.isEmpty
            q.append(contentsOf: batch)
            return empty
        }
        if wasEmpty { eventLoop.execute { self.drain() } }
    }

    private func drain() {
        let batch = box.withLockedValue { q -> [(ConnectionHandle, OutboundMessage)] in
            let b = q
            q.removeAll(keepingCapacity: true)
            return b
        }
        for (handle, outbound) in batch { handle.deliverOnLoop(outbound) }
    }
}

/// One mailbox per event loop, created on first use.
final class LoopMailboxes: Sendable {
    private let boxes = NIOLockedValueBox<[ObjectIdentifier: LoopMailbox]>([:])

    func mailbox(for loop: any EventLoop) -> LoopMailbox {
        boxes.withLockedValue { m in
            if let b = m[ObjectIdentifier(loop)] { return b }
            let b = LoopMailbox(eventLoop: loop)
            m[ObjectIdentifier(loop)] = b
            return b
        }
    }
}
