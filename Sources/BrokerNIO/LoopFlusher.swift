import NIOCore
import NIOPosix

/// State kept once per event loop and reached from the loop's own thread (a thread-local): the flush coalescer
/// and the keep-alive sweeper. Nothing here is ever touched from another thread.
final class LoopLocal {
    let eventLoop: any EventLoop
    let flusher: LoopFlusher
    let keepAlive: KeepAliveSweeper

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.flusher = LoopFlusher(eventLoop: eventLoop)
        self.keepAlive = KeepAliveSweeper(eventLoop: eventLoop)
    }

    private static let key = ThreadSpecificVariable<LoopLocalBox>()

    static func current(for loop: any EventLoop) -> LoopLocal {
        if let box = key.currentValue, box.local.eventLoop === loop { return box.local }
        let local = LoopLocal(eventLoop: loop)
        key.currentValue = LoopLocalBox(local: local)
        return local
    }
}

/// Only ever read on the thread that stored it.
final class LoopLocalBox: @unchecked Sendable {
    let local: LoopLocal
    init(local: LoopLocal) { self.local = local }
}

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

/// One repeating one-second tick per loop checks every connection's keep-alive deadline, instead of a timer
/// (task, closure and promise) per connection: idle connections stay cheap, and keep-alive resets cost nothing.
/// Granularity is one second, well inside MQTT's 1.5× allowance.
final class KeepAliveSweeper {
    let eventLoop: any EventLoop
    private var handles: [ConnectionHandle] = []
    private var task: RepeatedTask?

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Adds a connection; returns its slot, which the connection passes back to ``remove(slot:)``.
    func add(_ handle: ConnectionHandle) -> Int {
        handles.append(handle)
        if task == nil {
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            task = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                bound.value.sweep()
            }
        }
        return handles.count - 1
    }

    /// Swap-remove: the last connection moves into the freed slot and is told its new slot.
    func remove(slot: Int) {
        guard slot >= 0 && slot < handles.count else { return }
        let last = handles.removeLast()
        if slot < handles.count {
            handles[slot] = last
            last.withHandlerOnLoop { $0.keepAliveSlot = slot }
        }
    }

    private func sweep() {
        let now = eventLoop.now
        var i = 0
        // Expiring a connection removes it from `handles` (swap-remove), so walk by index and re-check bounds.
        while i < handles.count {
            let h = handles[i]
            h.withHandlerOnLoop { $0.checkKeepAlive(now: now) }
            if i < handles.count && handles[i] === h { i += 1 }
        }
    }
}

@available(*, unavailable) extension LoopLocal: Sendable {}
@available(*, unavailable) extension LoopFlusher: Sendable {}
@available(*, unavailable) extension KeepAliveSweeper: Sendable {}
