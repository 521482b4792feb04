import IoTTypes

/// Each tenant's default data endpoint, `<prefix>-ats.iot.<region>.<baseDomain>` (AWS's `iot:Data-ATS` shape;
/// region and base domain are node configuration, the prefix is replicated state).
///
/// A tenant's prefix is the one set with `ClusterCommand.setTenantEndpointPrefix`, else one derived from its
/// account id (`derivedPrefix`): 14 characters of `[a-z0-9]`, like AWS's, and the same on every node and across
/// restarts, so DescribeEndpoint is stable without anything being stored.
public enum TenantEndpoint {
    /// `<prefix>-ats.iot.<region>.<baseDomain>`, e.g. `a1b2c3d4e5f6g7-ats.iot.eu-west-1.flotilla.example`.
    public static func dataATSHost(prefix: String, region: String, baseDomain: String) -> String {
        "\(prefix)-ats.iot.\(region).\(baseDomain)"
    }

    /// The prefix of `host` if it is a data endpoint under `region` and `baseDomain` (ASCII case-insensitive), else
    /// nil: the inverse of `dataATSHost`, for reading SNI.
    public static func prefix(ofHost host: String, region: String, baseDomain: String) -> String? {
        let lowered = String(decoding: host.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        let suffix = "-ats.iot.\(region).\(baseDomain)"
        guard lowered.hasSuffix(suffix) else { return nil }
        let prefix = String(lowered.dropLast(suffix.count))
        return isValidPrefix(prefix) ? prefix : nil
    }

    /// A DNS label that still is one with `-ats` appended: `[a-z0-9]` and inner `-`, 1–59 bytes.
    public static func isValidPrefix(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...59).contains(u.count), u.first != UInt8(ascii: "-"), u.last != UInt8(ascii: "-") else {
            return false
        }
        return u.allSatisfy { DomainRules.isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// 14 characters of `[a-z0-9]` from the account id (FNV-1a, then SplitMix64 steps): stable, not secret.
    public static func derivedPrefix(for tenant: TenantID) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in tenant.accountID.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var out: [UInt8] = []
        var state = h
        for i in 0..<14 {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            // Start with a letter, as AWS prefixes do.
            out.append(i == 0 ? alphabet[Int(z % 26)] : alphabet[Int(z % 36)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
