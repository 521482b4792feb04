/// The outcome wire format (version 1): what `apply` answered, carried back to the proposer — through the raft
/// shell in process today, over the cluster bus when a follower forwards a proposal.
///
///     formatVersion: u8 (= 1) | kind: u8 (0 success, 1 failure) | case tag: u8 | fields of that case
///
/// Tags are append-only, like the command tags. `decode` refuses other versions, unknown tags, truncated fields
/// and trailing bytes (nil), so a reader never guesses an answer.
public enum ClusterOutcomeCodec {
    public static let formatVersion: UInt8 = 1

    enum ResultTag: UInt8 {
        case done = 0
        case thing = 1
        case batch = 2
        case policyVersion = 3
        // 13–14: thing types and thing groups.
        case thingType = 13
        case thingGroup = 14
        case shadow = 20
    }

    enum ErrorTag: UInt8 {
        case resourceNotFound = 1
        case resourceAlreadyExists = 2
        case versionConflict = 3
        case invalidRequest = 4
        case unsupportedCommandVersion = 5
        case malformedCommand = 6
        case certificateState = 7
        case deleteConflict = 8
        case versionsLimitExceeded = 9
        case limitExceeded = 10
        case certificateValidation = 11
    }

    public static func encode(_ outcome: ClusterOutcome) -> [UInt8] {
        var w = BinaryWriter()
        w.write(formatVersion)
        switch outcome {
        case .success(let result):
            w.write(UInt8(0))
            switch result {
            case .done:
                w.write(ResultTag.done.rawValue)
            case .thing(let thingId, let version):
                w.write(ResultTag.thing.rawValue)
                w.write(thingId)
                w.write(version)
            case .batch(let failed):
                w.write(ResultTag.batch.rawValue)
                w.write(failed)
            case .policyVersion(let id):
                w.write(ResultTag.policyVersion.rawValue)
                w.write(id)
            case .thingType(let id):
                w.write(ResultTag.thingType.rawValue)
                w.write(id)
            case .thingGroup(let id, let version):
                w.write(ResultTag.thingGroup.rawValue)
                w.write(id)
                w.write(version)
            case .shadow(let e):
                w.write(ResultTag.shadow.rawValue)
                w.write(e.tenant)
                w.write(e.key)
                w.write(UInt32(clamping: e.status))
                w.write(e.body)
                w.write(e.errorMessage)
                w.writeCount(e.messages.count)
                for m in e.messages {
                    w.write(m.suffix)
                    w.write(m.payload)
                }
            }
        case .failure(let error):
            w.write(UInt8(1))
            switch error {
            case .resourceNotFound:
                w.write(ErrorTag.resourceNotFound.rawValue)
            case .resourceAlreadyExists:
                w.write(ErrorTag.resourceAlreadyExists.rawValue)
            case .versionConflict:
                w.write(ErrorTag.versionConflict.rawValue)
            case .invalidRequest(let message):
                w.write(ErrorTag.invalidRequest.rawValue)
                w.write(message)
            case .unsupportedCommandVersion(let version):
                w.write(ErrorTag.unsupportedCommandVersion.rawValue)
                w.write(version)
            case .malformedCommand:
                w.write(ErrorTag.malformedCommand.rawValue)
            case .certificateState(let message):
                w.write(ErrorTag.certificateState.rawValue)
                w.write(message)
            case .deleteConflict(let message):
                w.write(ErrorTag.deleteConflict.rawValue)
                w.write(message)
            case .versionsLimitExceeded(let message):
                w.write(ErrorTag.versionsLimitExceeded.rawValue)
                w.write(message)
            case .limitExceeded(let message):
                w.write(ErrorTag.limitExceeded.rawValue)
                w.write(message)
            case .certificateValidation(let message):
                w.write(ErrorTag.certificateValidation.rawValue)
                w.write(message)
            }
        }
        return w.bytes
    }

    /// The outcome, or nil when the bytes are not one (wrong version, unknown tag, truncated, trailing bytes).
    public static func decode(_ bytes: [UInt8]) -> ClusterOutcome? {
        guard bytes.first == formatVersion else { return nil }
        var r = BinaryReader(bytes, offset: 1)
        do {
            let outcome = try decodeV1(&r)
            return r.isAtEnd ? outcome : nil
        } catch {
            return nil
        }
    }

    private static func decodeV1(_ r: inout BinaryReader) throws(BinaryReadError) -> ClusterOutcome {
        switch try r.readUInt8() {
        case 0:
            guard let tag = ResultTag(rawValue: try r.readUInt8()) else { throw BinaryReadError() }
            switch tag {
            case .done: return .success(.done)
            case .thing: return .success(.thing(thingId: try r.readString(), version: try r.readInt64()))
            case .batch: return .success(.batch(failed: try r.readUInt32()))
            case .policyVersion: return .success(.policyVersion(versionId: try r.readInt64()))
            case .thingType: return .success(.thingType(thingTypeId: try r.readString()))
            case .thingGroup: return .success(.thingGroup(thingGroupId: try r.readString(), version: try r.readInt64()))
            case .shadow:
                let tenant = try r.readTenant()
                let key = try r.readShadowKey()
                let status = Int(try r.readUInt32())
                let body = try r.readBytes()
                let errorMessage = try r.readString()
                var messages: [ShadowEmission.Message] = []
                for _ in 0..<(try r.readCount(minimumElementSize: 8)) {
                    messages.append(.init(suffix: try r.readString(), payload: try r.readBytes()))
                }
                return .success(.shadow(ShadowEmission(tenant: tenant, key: key, status: status, body: body,
                                                       errorMessage: errorMessage, messages: messages)))
            }
        case 1:
            guard let tag = ErrorTag(rawValue: try r.readUInt8()) else { throw BinaryReadError() }
            switch tag {
            case .resourceNotFound: return .failure(.resourceNotFound)
            case .resourceAlreadyExists: return .failure(.resourceAlreadyExists)
            case .versionConflict: return .failure(.versionConflict)
            case .invalidRequest: return .failure(.invalidRequest(try r.readString()))
            case .unsupportedCommandVersion: return .failure(.unsupportedCommandVersion(try r.readUInt8()))
            case .malformedCommand: return .failure(.malformedCommand)
            case .certificateState: return .failure(.certificateState(try r.readString()))
            case .deleteConflict: return .failure(.deleteConflict(try r.readString()))
            case .versionsLimitExceeded: return .failure(.versionsLimitExceeded(try r.readString()))
            case .limitExceeded: return .failure(.limitExceeded(try r.readString()))
            case .certificateValidation: return .failure(.certificateValidation(try r.readString()))
            }
        default:
            throw BinaryReadError()
        }
    }
}
