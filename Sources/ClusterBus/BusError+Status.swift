import BusProtocol

// The one mapping between the bus's reserved status codes and ``BusError``, both ways. Exhaustive switches and no
// `default:`, so a new reserved code does not compile until it is mapped here.

extension BusError {
    /// The caller-side error for an error response.
    static func fromResponse(code: UInt16, message: String) -> BusError {
        guard let reserved = BusStatus.Reserved(rawValue: code) else { return .remote(code: code, message: message) }
        switch reserved {
        case .overloaded: return .overloaded
        case .responseTooLarge: return .responseTooLarge(message)
        case .shuttingDown: return .shuttingDown
        }
    }
}

extension BusStatus.Reserved {
    /// The error response the bus itself sends for `self`.
    func status(_ message: String) -> BusStatus { .error(code: rawValue, message: message) }
}
