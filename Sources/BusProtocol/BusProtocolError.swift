/// Everything the frame decoder can reject. Any of them ends the connection: after a framing error the stream
/// cannot be resynchronised. ``closeReason`` is the one mapping to what the shell logs and counts.
public enum BusProtocolError: Error, Hashable, Sendable {
    /// The length prefix announces more than the maximum frame size; detected before the body is buffered.
    case frameTooLarge(size: Int, limit: Int)
    /// The two bytes after the length are not ``BusWire/magic``: not a bus peer, or a desynchronised stream.
    case badMagic(UInt16)
    /// A frame-format version we do not speak.
    case unsupportedVersion(UInt8)
    /// A frame type byte we do not know.
    case unknownFrameType(UInt8)
    /// Reserved flag bits, or `compressed` on a frame without a payload.
    case invalidFlags(UInt8, frameType: UInt8)
    /// The bytes inside a frame do not match its type: truncated field, bytes left over, invalid UTF-8, bad status.
    case malformed(String)

    /// Short, stable label for logs and metrics.
    public var closeReason: String {
        switch self {
        case .frameTooLarge: return "frame_too_large"
        case .badMagic: return "bad_magic"
        case .unsupportedVersion: return "unsupported_version"
        case .unknownFrameType: return "unknown_frame_type"
        case .invalidFlags: return "invalid_flags"
        case .malformed: return "malformed"
        }
    }
}
