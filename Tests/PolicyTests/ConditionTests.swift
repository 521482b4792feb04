import Testing

@testable import Policy

/// The Condition element: operators, qualifiers, IfExists, missing keys (AWS-IOT-SPEC §2.4).
@Suite struct ConditionTests {
    typealias F = Fixture

    static let thing = ConnectionThing(name: "dev-1", typeName: "thermo", attributes: ["site": "berlin"])
    static let cert = CertificateFields(subject: ["CommonName": ["dev-1"], "OrganizationalUnit": ["eng", "ops"]])
    // 2026-11-18T11:06:40Z
    static let now: Int64 = 1_795_000_000

    static let base = F.context(
        clientID: "dev-1", thing: thing, certificate: cert, sourceIP: "192.0.2.10", time: now,
        connectAttributes: ["PersistentConnect", "LastWill"], extra: ["iot:DomainName": ["iot.example.com"]])

    @Test("conditions decide whether an Allow applies", arguments: [
        // Strings
        (#"{"StringEquals":{"iot:ClientId":"dev-1"}}"#, true),
        (#"{"StringEquals":{"iot:ClientId":"DEV-1"}}"#, false),
        (#"{"StringEquals":{"iot:ClientId":["x","dev-1"]}}"#, true),  // values: OR
        (#"{"StringNotEquals":{"iot:ClientId":["x","y"]}}"#, true),
        (#"{"StringNotEquals":{"iot:ClientId":["x","dev-1"]}}"#, false),  // negated values: NOR
        (#"{"StringEqualsIgnoreCase":{"iot:ClientId":"DEV-1"}}"#, true),
        (#"{"StringNotEqualsIgnoreCase":{"iot:ClientId":"DEV-1"}}"#, false),
        (#"{"StringLike":{"iot:ClientId":"dev-*"}}"#, true),
        (#"{"StringLike":{"iot:ClientId":"dev-?"}}"#, true),
        (#"{"StringNotLike":{"iot:ClientId":"prod-*"}}"#, true),
        (#"{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}"#, true),  // variables in values
        (#"{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.Attributes[nope]}"}}"#, false),
        (#"{"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.Attributes[nope]}"}}"#, false),  // unresolvable: no match
        (#"{"StringEquals":{"iot:Connection.Thing.Attributes[site]":"berlin"}}"#, true),
        (#"{"StringEquals":{"iot:DomainName":"iot.example.com"}}"#, true),  // a key the shell added
        (#"{"stringequals":{"IOT:CLIENTID":"dev-1"}}"#, true),  // operator and key names: case-insensitive
        // Several operators and keys: AND
        (#"{"StringEquals":{"iot:ClientId":"dev-1","iot:Connection.Thing.ThingTypeName":"thermo"}}"#, true),
        (#"{"StringEquals":{"iot:ClientId":"dev-1","iot:Connection.Thing.ThingTypeName":"other"}}"#, false),
        (#"{"StringEquals":{"iot:ClientId":"dev-1"},"Bool":{"iot:Connection.Thing.IsAttached":"false"}}"#, false),
        // Bool
        (#"{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}"#, true),
        (#"{"Bool":{"iot:Connection.Thing.IsAttached":true}}"#, true),
        (#"{"Bool":{"aws:SecureTransport":"false"}}"#, false),
        // Numeric
        (#"{"NumericEquals":{"aws:EpochTime":1795000000}}"#, true),
        (#"{"NumericLessThan":{"aws:EpochTime":"1795000001"}}"#, true),
        (#"{"NumericLessThanEquals":{"aws:EpochTime":1795000000.0}}"#, true),
        (#"{"NumericGreaterThan":{"aws:EpochTime":1795000000}}"#, false),
        (#"{"NumericGreaterThanEquals":{"aws:EpochTime":1e9}}"#, true),
        (#"{"NumericNotEquals":{"aws:EpochTime":[1,2]}}"#, true),
        (#"{"NumericEquals":{"iot:ClientId":1}}"#, false),  // not a number
        // Dates
        (#"{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}"#, true),
        (#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01"}}"#, false),
        (#"{"DateEquals":{"aws:CurrentTime":"2026-11-18T12:06:40+01:00"}}"#, true),
        (#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-11-18T11:06:40.000Z"}}"#, true),
        (#"{"DateLessThanEquals":{"aws:CurrentTime":"1795000000"}}"#, true),  // epoch seconds
        (#"{"DateNotEquals":{"aws:CurrentTime":"2026-11-18"}}"#, true),
        (#"{"DateLessThan":{"aws:EpochTime":"2026-11-18T11:06:41Z"}}"#, true),
        // IP addresses
        (#"{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#, true),
        (#"{"IpAddress":{"aws:SourceIp":"192.0.2.10"}}"#, true),
        (#"{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}"#, false),
        (#"{"IpAddress":{"aws:SourceIp":["198.51.100.0/24","192.0.0.0/8"]}}"#, true),
        (#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, true),
        (#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#, false),  // family mismatch
        (#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#, true),
        // ARNs: part by part
        (#"{"ArnLike":{"iot:Arn":"arn:aws:iot:*:123456789012:thing/*"}}"#, true),
        (#"{"ArnEquals":{"iot:Arn":"arn:aws:iot:us-east-1:123456789012:thing/dev-1"}}"#, true),
        (#"{"ArnLike":{"iot:Arn":"arn:aws:iot:*"}}"#, false),  // * stays inside its part
        (#"{"ArnNotLike":{"iot:Arn":"arn:aws:iot:*:999999999999:*"}}"#, true),
        (#"{"ArnNotEquals":{"iot:Arn":"arn:aws:iot:us-east-1:123456789012:thing/dev-1"}}"#, false),
        // Null
        (#"{"Null":{"aws:SourceIp":"false"}}"#, true),
        (#"{"Null":{"aws:SourceIp":"true"}}"#, false),
        (#"{"Null":{"iot:Missing":"true"}}"#, true),
        // Binary
        (#"{"BinaryEquals":{"iot:Blob":"QUJD"}}"#, true),
        // Missing keys
        (#"{"StringEquals":{"iot:Missing":"x"}}"#, false),
        (#"{"StringNotEquals":{"iot:Missing":"x"}}"#, true),  // negated operators hold for a missing key
        (#"{"StringEqualsIfExists":{"iot:Missing":"x"}}"#, true),
        (#"{"StringEqualsIfExists":{"iot:ClientId":"x"}}"#, false),  // present: checked as usual
        (#"{"IpAddressIfExists":{"iot:Missing":"10.0.0.0/8"}}"#, true),
        // Multi-valued keys
        (#"{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"LastWill"}}"#, true),
        (#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":"PersistentConnect"}}"#, false),
        (#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect","LastWill"]}}"#, true),
        (#"{"ForAllValues:StringEquals":{"iot:Missing":"x"}}"#, true),  // vacuously true
        (#"{"ForAnyValue:StringEquals":{"iot:Missing":"x"}}"#, false),
        (#"{"ForAnyValue:StringLike":{"iot:Certificate.Subject.OrganizationalUnit.List":"op*"}}"#, true),
        (#"{"ForAllValues:StringLike":{"iot:Certificate.Subject.OrganizationalUnit.List":"op*"}}"#, false),
        (#"{"ForAnyValue:StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}"#, true),
        (#"{"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}"#, false),
        (#"{"StringEquals":{"iot:ConnectAttributes":"LastWill"}}"#, true),  // unqualified: any value
    ] as [(String, Bool)])
    func test_condition(condition: String, allowed: Bool) {
        var ctx = Self.base
        ctx.additionalKeys["iot:Arn"] = [F.arn("thing/dev-1")]
        ctx.additionalKeys["iot:Blob"] = ["QUJD"]
        let doc = F.document(condition: condition)
        #expect(F.decide([doc], .connect(clientID: "dev-1", context: ctx)).isAllowed == allowed)
    }

    @Test("the connect-only-when-attached idiom, over several contexts", arguments: [
        (ConnectionThing?.some(thing), "dev-1", true),
        (nil, "dev-1", false),
    ] as [(ConnectionThing?, String, Bool)])
    func test_isAttachedIdiom(thing: ConnectionThing?, clientID: String, allowed: Bool) {
        let doc = F.document(
            action: "\"iot:Connect\"", resource: "\"\(F.arn("client/${iot:Connection.Thing.ThingName}"))\"",
            condition: #"{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}"#)
        let ctx = F.context(clientID: clientID, thing: thing)
        #expect(F.decide([doc], .connect(clientID: clientID, context: ctx)).isAllowed == allowed)
    }

    @Test("IP ranges, v4 and v6", arguments: [
        ("10.1.2.3", "10.0.0.0/8", true), ("11.1.2.3", "10.0.0.0/8", false), ("10.1.2.3", "10.1.2.2/31", true),
        ("10.1.2.4", "10.1.2.2/31", false), ("2001:db8::1", "2001:db8::/32", true),
        ("2001:db9::1", "2001:db8::/32", false), ("::1", "::1/128", true), ("::ffff:192.0.2.1", "192.0.2.0/24", true),
        ("fe80::1:2:3:4", "fe80::/10", true), ("2001:db8:0:0:0:0:0:1", "2001:db8::1", true),
        ("::ffff:1.2.3.4", "::ffff:0:0/96", false),  // mapped addresses compare as IPv4
        ("1.2.3", "0.0.0.0/0", false), ("256.1.1.1", "0.0.0.0/0", false), ("1:2:3:4:5:6:7:8:9", "::/0", false),
        ("1::2::3", "::/0", false), ("10.0.0.1", "10.0.0.0/33", false),
    ] as [(String, String, Bool)])
    func test_ipRanges(address: String, range: String, inside: Bool) {
        let matched = IPAddressRange(range).flatMap { r in IPAddressRange.parseAddress(Substring(address)).map(r.contains) }
        #expect((matched ?? false) == inside)
    }

    @Test("dates", arguments: [
        ("1970-01-01", Int64(0)), ("1970-01-01T00:00:01Z", 1000), ("2000-02-29T12:00:00Z", 951_825_600_000),
        ("2026-11-18T11:06:40Z", 1_795_000_000_000), ("2026-11-18T11:06:40.25Z", 1_795_000_000_250),
        ("2026-11-18T13:06:40+0200", 1_795_000_000_000), ("1795000000", 1_795_000_000_000),
    ] as [(String, Int64)])
    func test_dates(text: String, milliseconds: Int64) {
        #expect(PolicyDate.parse(text) == milliseconds)
        #expect(PolicyDate.parse(PolicyDate.iso8601(milliseconds: milliseconds / 1000 * 1000)) == milliseconds / 1000 * 1000)
    }

    @Test("malformed dates", arguments: ["2026-02-30", "2026-13-01", "2026-1-01", "2026-11-18T25:00:00Z", "tomorrow", "", "2026-11-18T11:06:40X"])
    func test_dates_malformed(text: String) {
        #expect(PolicyDate.parse(text) == nil)
    }
}
