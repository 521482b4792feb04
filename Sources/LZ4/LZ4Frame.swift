internal import CLZ4

/// Why an LZ4 frame could not be made or read.
public enum LZ4FrameError: Error, Hashable, Sendable {
    /// liblz4 refused to compress (its error name is kept).
    case compressionFailed(String)
    /// The bytes are not a valid LZ4 frame: bad magic, bad block, checksum mismatch, or bytes after the frame.
    case corrupt(String)
    /// The input ended before the frame did.
    case truncated
    /// The frame decompresses to more than the caller's limit (a decompression bomb, or simply too big).
    case tooLarge(limit: Int)
}

/// LZ4 *frame* format (self-describing, with a content checksum), as used for `ClusterState` snapshots and
/// cross-region batches. The C library stays behind this enum: no `CLZ4` type escapes the target (STYLE C7).
public enum LZ4Frame {
    /// The default ceiling for `decompress`: 1 GiB.
    public static let defaultMaxDecompressedSize = 1 << 30

    /// Compresses `input` into one LZ4 frame, recording the content size and a content checksum.
    public static func compress(_ input: [UInt8]) throws(LZ4FrameError) -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.contentSize = UInt64(input.count)
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        // The bound depends on the preferences (the checksum adds bytes): compute it with the same ones.
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                LZ4F_compressFrame(dst.baseAddress, dst.count, src.baseAddress, src.count, &prefs)
            }
        }
        if LZ4F_isError(written) != 0 { throw .compressionFailed(errorName(written)) }
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses exactly one LZ4 frame.
    ///
    /// The output grows by doubling from a small start and never past `maxSize`, whatever the frame header claims,
    /// so a small hostile input cannot make us allocate much. Bytes after the end of the frame are refused.
    public static func decompress(_ input: [UInt8], maxSize: Int = defaultMaxDecompressedSize)
        throws(LZ4FrameError) -> [UInt8]
    {
        var dctx: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))
        if LZ4F_isError(created) != 0 { throw .corrupt(errorName(created)) }
        defer { LZ4F_freeDecompressionContext(dctx) }

        var output = [UInt8](repeating: 0, count: min(maxSize, max(64 * 1024, input.count * 4)))
        var produced = 0
        var consumed = 0
        while true {
            if produced == output.count {
                guard output.count < maxSize else { throw .tooLarge(limit: maxSize) }
                output.append(contentsOf: repeatElement(0, count: min(output.count, maxSize - output.count)))
            }
            var dstSize = output.count - produced
            var srcSize = input.count - consumed
            let hint = output.withUnsafeMutableBytes { dst in
                input.withUnsafeBytes { src in
                    LZ4F_decompress(dctx, dst.baseAddress! + produced, &dstSize, src.baseAddress.map { $0 + consumed },
                                    &srcSize, nil)
                }
            }
            if LZ4F_isError(hint) != 0 { throw .corrupt(errorName(hint)) }
            produced += dstSize
            consumed += srcSize
            if hint == 0 {  // the frame is complete
                guard consumed == input.count else { throw .corrupt("bytes after the end of the frame") }
                output.removeSubrange(produced...)
                return output
            }
            // Input used up and room left in the output: the library is waiting for bytes that will not come.
            if consumed == input.count && produced < output.count { throw .truncated }
        }
    }

    private static func errorName(_ code: Int) -> String {
        String(cString: LZ4F_getErrorName(code))
    }
}
