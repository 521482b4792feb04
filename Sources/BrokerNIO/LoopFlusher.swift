import NIOCore
import NIOPosix

/// Coalesces flushes per event loop: a connection that received deliveries registers once per loop tick, and a
/// single task at the end of the tick flushes every registered connection. So a burst of messages routed to a
/// subscriber costs one write syscall per tick, not one per message.
final class LoopFlusher {
    private var dirty: [ConnectionHandle] = []
    private var scheduled = false
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func register(_ handle: ConnectionHandle) {
        dirty.append(handle)
        if !scheduled {
            scheduled = true
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            eventLoop.execute { bound.value.flushAll() }
        }
    }

    private func flushAll() {
        scheduled = false
        let handles = dirty
        dirty.removeAll(keepingCapacity: true)
        for h in handles { h.flushOnLoop() }
    }
}

@available(*, unavailable) extension LoopFlusher: Sendable {}

/// One flusher per event loop, reached from the loop itself through a thread-local.
enum LoopFlushers {
    private static let key = ThreadSpecificVariable<LoopFlusherBox>()

    static func current(for loop: any EventLoop) -> LoopFlusher {
        if let box = key.currentValue, box.flusher.eventLoop === loop { return box.flusher }
        let f = LoopFlusher(eventLoop: loop)
        key.currentValue = LoopFlusherBox(flusher: f)
        return f
    }
}

/// Only ever read on the thread that stored it.
final class LoopFlusherBox: @unchecked Sendable {
    let flusher: LoopFlusher
    init(flusher: LoopFlusher) { self.flusher = flusher }
}
