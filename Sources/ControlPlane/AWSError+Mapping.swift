import ClusterState

// The one mapping from the replicated state's errors to AWS error shapes (STYLE C6: exhaustive, no `default:`).
// Messages follow AWS's wording where it is known (AWS-IOT-SPEC §11.1).
extension AWSError {
    /// A thing command's failure. `existing` is the thing as this node now has it (for
    /// ResourceAlreadyExistsException's `resourceId` / `resourceArn`).
    init(_ error: ClusterStateError, thingName: String, existing: Thing?, region: String) {
        switch error {
        case .resourceNotFound:
            self = .resourceNotFound("Thing \(thingName) cannot be found.")
        case .resourceAlreadyExists:
            self = .resourceAlreadyExists(
                "Thing \(thingName) already exists with different attributes", resourceId: existing?.thingId,
                resourceArn: existing?.thingArn(region: region))
        case .versionConflict:
            self = .versionConflict("The version for thing \(thingName) does not match the expected version.")
        case .invalidRequest, .unsupportedCommandVersion, .malformedCommand, .certificateState, .deleteConflict,
             .versionsLimitExceeded, .limitExceeded, .certificateValidation:
            self.init(error, what: "Thing \(thingName)")
        }
    }
}

extension AWSError {
    /// Any other command's failure; `what` names the resource ("Policy p", "Thing t").
    init(_ error: ClusterStateError, what: String) {
        switch error {
        case .resourceNotFound: self = .resourceNotFound("\(what) cannot be found.")
        case .resourceAlreadyExists: self = .resourceAlreadyExists("\(what) already exists.")
        case .versionConflict: self = .versionConflict("\(what) was changed concurrently.")
        case .invalidRequest(let message): self = .invalidRequest(message)
        case .certificateState(let message): self = .certificateState(message)
        case .deleteConflict(let message): self = .deleteConflict(message)
        case .versionsLimitExceeded(let message): self = .versionsLimitExceeded(message)
        case .limitExceeded(let message): self = .limitExceeded(message)
        case .certificateValidation(let message): self = .certificateValidation(message)
        case .unsupportedCommandVersion(let version):
            self = .internalFailure("the cluster could not read command format \(version) (mixed node versions?)")
        case .malformedCommand: self = .internalFailure("the cluster could not decode the command")
        }
    }
}
