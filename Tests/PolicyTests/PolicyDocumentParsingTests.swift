import Testing

@testable import Policy

@Suite struct PolicyDocumentParsingTests {
    @Test("well-formed documents parse into statements", arguments: [
        // A single statement object, strings for Action and Resource.
        (#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}"#, 1, ["iot:Connect"]),
        // An array of statements, arrays for Action and Resource, Sid, Id.
        (#"{"Version":"2012-10-17","Id":"p1","Statement":[{"Sid":"a","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/a"]},{"Effect":"Deny","NotAction":"iot:Connect","NotResource":"*"}]}"#, 2, ["iot:Publish", "iot:Receive"]),
        // Whitespace everywhere, escapes in strings.
        ("\n { \"Version\" : \"2012-10-17\" ,\t\"Statement\" : [ { \"Effect\" : \"Allow\" , \"Action\" : \"iot:\\u0050ublish\" , \"Resource\" : \"arn:aws:iot:us-east-1:1:topic/\\/x\" } ] }\r\n", 1, ["iot:Publish"]),
        // No Version (IAM's 2008 semantics) and the old version string.
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, 1, ["*"]),
        (#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}"#, 1, ["iot:*"]),
        // A Condition with numbers, booleans and arrays as values.
        (#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"NumericLessThan":{"k":10},"Bool":{"b":true},"StringEquals":{"s":["x",1]}}}}"#, 1, ["iot:Connect"]),
    ] as [(String, Int, [String])])
    func test_parse_valid(json: String, statements: Int, firstActions: [String]) throws {
        let doc = try PolicyDocument(json: json)
        #expect(doc.statements.count == statements)
        #expect(doc.statements.first?.actions == firstActions)
    }

    @Test func test_parse_keepsShape() throws {
        let doc = try PolicyDocument(
            json: Fixture.document(
                effect: "Deny", action: #"["iot:Publish"]"#, resource: #""arn:aws:iot:*""#,
                condition: #"{"ForAnyValue:StringLikeIfExists":{"iot:Certificate.Subject.CommonName.List":["a*","b"]}}"#,
                notAction: true, notResource: true))
        let s = try #require(doc.statements.first)
        #expect(s.effect == .deny && s.isNotAction && s.isNotResource)
        #expect(doc.substitutesVariables)
        let c = try #require(s.conditions.first)
        #expect(c.qualifier == .forAnyValue && c.operator == .stringLike && c.ifExists)
        #expect(c.values == ["a*", "b"] && c.key == "iot:Certificate.Subject.CommonName.List")
    }

    @Test("malformed documents are refused with a precise error", arguments: [
        ("", PolicyError.invalidJSON(offset: 0, reason: "unexpected end of document")),
        ("{", .invalidJSON(offset: 1, reason: "expected a member name in double quotes")),
        (#"{"Version":"2012-10-17",}"#, .invalidJSON(offset: 24, reason: "expected a member name in double quotes")),
        (#"{"a":1} x"#, .invalidJSON(offset: 8, reason: "unexpected text after the document")),
        (#"{"a":"\q"}"#, .invalidJSON(offset: 8, reason: "invalid escape")),
        (#"{"a":01}"#, .invalidJSON(offset: 6, reason: "expected ',' or '}'")),
        (#"{"a":"\ud800"}"#, .invalidJSON(offset: 12, reason: "unpaired surrogate in \\u escape")),
        ("[]", .documentNotAnObject),
        (#"{"Version":"2012-10-17","Statement":[],"Extra":1}"#, .unknownTopLevelKey("Extra")),
        (#"{"Version":"2012-10-17","Version":"2012-10-17"}"#, .duplicateKey("Version", where: "the document")),
        (#"{"Version":"2020-01-01","Statement":[]}"#, .unsupportedVersion("2020-01-01")),
        (#"{"Version":"2012-10-17"}"#, .missingStatement),
        (#"{"Version":"2012-10-17","Statement":[]}"#, .emptyStatement),
        (#"{"Version":"2012-10-17","Statement":"x"}"#, .invalidType(element: "Statement", statement: nil, expected: "an object or an array of objects")),
        (#"{"Statement":{"Action":"iot:*","Resource":"*"}}"#, .missingEffect(statement: 0)),
        (#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"allow","Action":"*","Resource":"*"}]}"#, .invalidEffect("allow", statement: 1)),
        (#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, .missingAction(statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"iot:Connect","Resource":"*"}}"#, .bothActionAndNotAction(statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*"}}"#, .missingResource(statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}"#, .bothResourceAndNotResource(statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#, .emptyElement(element: "Action", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"Publish","Resource":"*"}}"#, .invalidAction("Publish", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"iot:","Resource":"*"}}"#, .invalidAction("iot:", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"topic/a"}}"#, .invalidResource("topic/a", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":["*",3]}}"#, .invalidType(element: "Resource", statement: 0, expected: "a string or an array of strings")),
        (#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#, .principalNotAllowed(statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Actions":"*"}}"#, .unknownStatementKey("Actions", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringMatches":{"k":"v"}}}}"#, .unknownConditionOperator("StringMatches", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}}}"#, .unknownConditionOperator("NullIfExists", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}}"#, .invalidConditionValue(operator: "StringEquals", key: "k", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":{"x":1}}}}}"#, .invalidConditionValue(operator: "StringEquals", key: "k", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"k":"maybe"}}}}"#, .invalidConditionValue(operator: "Null", key: "k", statement: 0)),
        (#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":"x"}}"#, .invalidType(element: "Condition", statement: 0, expected: "an object")),
    ] as [(String, PolicyError)])
    func test_parse_malformed(json: String, expected: PolicyError) {
        #expect(throws: expected) { try PolicyDocument(json: json) }
        #expect(!expected.message.isEmpty)
    }

    @Test("2048 characters excluding whitespace", arguments: [
        (2048, 0, true), (2048, 500, true), (2049, 0, false), (2049, 3000, false),
    ])
    func test_parse_sizeLimit(nonWhitespace: Int, whitespace: Int, accepted: Bool) {
        // Pad through the Sid so the document stays valid: the padding is the only thing that varies.
        let skeleton = Fixture.document().replacingPrefix("{", with: "{\"Id\":\"\",")
        let base = skeleton.filter { !$0.isWhitespace }.count
        let sid = String(repeating: "x", count: nonWhitespace - base)
        let json = skeleton.replacingPrefix("{\"Id\":\"", with: "{" + String(repeating: " ", count: whitespace) + "\"Id\":\"" + sid)
        do {
            _ = try PolicyDocument(json: json)
            #expect(accepted)
        } catch {
            #expect(!accepted)
            #expect(error == .documentTooLarge(characters: nonWhitespace, limit: 2048))
        }
    }

    @Test func test_parse_noLimitWhenAsked() throws {
        let big = Fixture.document(resource: "\"arn:aws:iot:us-east-1:1:topic/\(String(repeating: "a", count: 5000))\"")
        #expect(throws: PolicyError.self) { try PolicyDocument(json: big) }
        _ = try PolicyDocument(json: big, maxCharacters: nil)
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        precondition(hasPrefix(prefix))
        return replacement + dropFirst(prefix.count)
    }
}
