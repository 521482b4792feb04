import NIOCore

enum ByteBufferCopy {
    /// A copy of the readable bytes in a buffer of their own, so a stored message does not pin the (possibly
    /// much larger) receive buffer it was sliced from.
    static func compact(_ b: ByteBuffer) -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: b.readableBytes)
        copy.writeImmutableBuffer(b)
        return copy
    }
}
