// libFuzzer entry points for MQTTCodec. Build with -sanitize=fuzzer -parse-as-library (see run.sh); libFuzzer
// provides `main`.
//
// Each input is treated as a byte stream arriving on a connection and is decoded by five decoders: a server that
// has not seen CONNECT yet (the production configuration), servers and clients with a known 3.1.1 / 5.0 version
// (so that every packet decoder is reachable without a CONNECT first). For each decoder the harness checks, with
// `precondition`, that:
//   1. decoding the whole input at once and decoding it fed in small chunks give the same packets and the same
//      final error (incremental safety),
//   2. a nil result leaves the reader index untouched,
//   3. every decoded packet re-encodes and decodes to an equal packet (round trip).
import CLibFuzzer
import MQTTCodec
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The decoder configurations every input goes through.
let configurations: [(role: MQTTDecoder.Role, version: ProtocolVersion?)] = [
    (.server, nil), (.server, .v311), (.server, .v5), (.client, .v311), (.client, .v5),
]

/// Small enough that the "too large" paths (including the early check on a partial Remaining Length) are reached.
let fuzzMaxPacketSize = 2_048

/// Outcome of decoding a whole stream: the packets, then either an error or nil (more bytes needed / all consumed).
struct StreamResult: Equatable {
    var packets: [MQTTPacket] = []
    var error: MQTTCodecError?
}

/// Decodes `bytes` by appending `chunk` bytes at a time to one accumulating buffer, like a socket would.
func decodeStream(_ bytes: UnsafeRawBufferPointer, chunk: Int, role: MQTTDecoder.Role,
                  version: ProtocolVersion?) -> StreamResult {
    var decoder = MQTTDecoder(role: role, maxPacketSize: fuzzMaxPacketSize, version: version)
    var result = StreamResult()
    var buffer = ByteBuffer()
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
        offset = end
        do {
            while true {
                let before = buffer.readerIndex
                guard let packet = try decoder.decode(&buffer) else {
                    precondition(buffer.readerIndex == before, "nil moved the reader index")
                    break
                }
                precondition(buffer.readerIndex > before, "a packet was decoded from zero bytes")
                result.packets.append(packet)
                checkRoundTrip(packet, role: role, version: decoder.version)
            }
        } catch {
            result.error = error
            return result
        }
    }
    return result
}

/// `decode(encode(packet)) == packet` with a fresh decoder of the same role.
func checkRoundTrip(_ packet: MQTTPacket, role: MQTTDecoder.Role, version: ProtocolVersion?) {
    let encodeVersion: ProtocolVersion
    if case .connect(let connect) = packet {
        encodeVersion = connect.protocolVersion
    } else {
        guard let version else { preconditionFailure("a non-CONNECT packet was decoded without a version") }
        encodeVersion = version
    }
    var encoded = ByteBuffer()
    MQTTEncoder.encode(packet, version: encodeVersion, into: &encoded)
    var decoder = MQTTDecoder(role: role, version: role == .client ? encodeVersion : version)
    do {
        let again = try decoder.decode(&encoded)
        precondition(again == packet, "round trip changed the packet: \(packet) → \(String(describing: again))")
        precondition(encoded.readableBytes == 0, "re-encoded \(packet.type) left \(encoded.readableBytes) bytes")
    } catch {
        preconditionFailure("re-encoded \(packet) failed to decode: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let chunk = 1 + Int(bytes[size - 1] % 7)  // deterministic per input, so crashes reproduce
    for (role, version) in configurations {
        let whole = decodeStream(bytes, chunk: size, role: role, version: version)
        let dripped = decodeStream(bytes, chunk: chunk, role: role, version: version)
        precondition(whole == dripped,
                     "chunked decoding (\(chunk)) differs for \(role)/\(String(describing: version)): "
                        + "\(whole) vs \(dripped)")
    }
    return 0
}

/// With FLOTILLA_FUZZ_WRITE_SEEDS=<dir> the binary writes its seed corpus into <dir> and exits (used by run.sh).
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>?,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?)
    -> CInt
{
    if let dir = getenv("FLOTILLA_FUZZ_WRITE_SEEDS") {
        let count = writeSeeds(to: String(cString: dir))
        print("wrote \(count) seed files to \(String(cString: dir))")
        exit(0)
    }
    return 0
}

/// SwiftPM links Linux executables with `--defsym main=<Module>_main` (so that tests can link executables), and
/// `-parse-as-library` means Swift emits no such function. Defining it here and handing control to libFuzzer's
/// driver makes `swift build -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library` link; the process then behaves
/// exactly like libFuzzer's own `main`.
@_cdecl("MQTTCodecFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
