/// Wildcard patterns and `${…}` templates: how Action, Resource and `…Like` condition values match.
///
/// Rules (AWS-IOT-SPEC §2.4):
/// - `*` matches any run of characters, including none and including `/` and `:`; `?` matches exactly one.
/// - MQTT's `+` and `#` are ordinary characters: `topicfilter/a/+/b` matches only the literal filter `a/+/b`.
/// - `${*}`, `${?}` and `${$}` stand for a literal `*`, `?` and `$`.
/// - A substituted variable value is literal text: a client id `a*` does not become a wildcard. The spec is silent
///   on this; treating substituted text as data (never as pattern syntax) is the safe reading, so a device cannot
///   widen its own grant by choosing its client id.
/// Matching works on Unicode scalars with no normalisation, like topic matching (MQTT forbids normalising topics).
enum PatternToken: Hashable, Sendable {
    case scalar(Unicode.Scalar)
    case anyRun
    case anyOne

    /// `*` and `?` become wildcards, everything else literal.
    static func compile(_ text: String) -> [PatternToken] {
        var out: [PatternToken] = []
        appendPattern(text, to: &out)
        return out
    }

    static func appendPattern(_ text: String, to out: inout [PatternToken]) {
        for c in text.unicodeScalars {
            switch c {
            case "*": out.append(.anyRun)
            case "?": out.append(.anyOne)
            default: out.append(.scalar(c))
            }
        }
    }

    static func appendLiteral(_ text: String, to out: inout [PatternToken]) {
        for c in text.unicodeScalars { out.append(.scalar(c)) }
    }

    /// Greedy match with one backtrack point (the last `*`): linear for patterns with one `*`, O(n·m) at worst.
    static func matches(_ pattern: [PatternToken], _ text: String) -> Bool {
        matches(pattern, Array(text.unicodeScalars))
    }

    static func matches(_ pattern: [PatternToken], _ s: [Unicode.Scalar]) -> Bool {
        var p = 0
        var i = 0
        var starP = -1
        var starI = 0
        while i < s.count {
            if p < pattern.count {
                switch pattern[p] {
                case .anyRun:
                    starP = p
                    starI = i
                    p += 1
                    continue
                case .anyOne:
                    p += 1
                    i += 1
                    continue
                case .scalar(let c) where c == s[i]:
                    p += 1
                    i += 1
                    continue
                case .scalar:
                    break
                }
            }
            guard starP >= 0 else { return false }
            p = starP + 1
            starI += 1
            i = starI
        }
        while p < pattern.count, pattern[p] == .anyRun { p += 1 }
        return p == pattern.count
    }
}

/// Text with `${…}` policy variables located, parsed once with the document.
struct Template: Hashable, Sendable {
    enum Part: Hashable, Sendable {
        /// Text as written: `*`/`?` are wildcards where the template is used as a pattern.
        case text(String)
        /// Always literal: the `${*}`, `${?}`, `${$}` escapes.
        case literal(String)
        /// `${key}` or `${key, 'default'}`; `key` as written (lookups are case-insensitive).
        case variable(key: String, defaultValue: String?)
    }

    let parts: [Part]
    /// The compiled pattern when there is no variable to substitute (most resources): built once, at parse.
    let staticPattern: [PatternToken]?

    /// `variables == false` (Version other than 2012-10-17) keeps `${…}` as ordinary text.
    init(parsing raw: String, variables: Bool) {
        guard variables, raw.contains("${") else {
            parts = [.text(raw)]
            staticPattern = PatternToken.compile(raw)
            return
        }
        var parts: [Part] = []
        var text = ""
        var rest = Substring(raw)
        while let open = rest.firstRange(of: "${") {
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
            text += rest[..<open.lowerBound]
            let body = rest[open.upperBound..<close]
            rest = rest[rest.index(after: close)...]
            if !text.isEmpty {
                parts.append(.text(text))
                text = ""
            }
            switch body {
            case "*", "?", "$": parts.append(.literal(String(body)))
            default: parts.append(Self.variable(body))
            }
        }
        text += rest
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
        self.staticPattern = nil
    }

    /// `key` or `key, 'default'` (IAM's default-value form; spaces around the comma allowed).
    private static func variable(_ body: Substring) -> Part {
        if let comma = body.firstIndex(of: ",") {
            let key = body[..<comma].trimmingSpaces
            let def = body[body.index(after: comma)...].trimmingSpaces
            if def.count >= 2, def.first == "'", def.last == "'" {
                return .variable(key: String(key), defaultValue: String(def.dropFirst().dropLast()))
            }
        }
        return .variable(key: String(body.trimmingSpaces), defaultValue: nil)
    }

    var hasVariables: Bool {
        parts.contains { if case .variable = $0 { true } else { false } }
    }

    /// The text with variables substituted, or nil if one cannot be resolved (the caller then treats the element
    /// as not matching).
    func resolved(in context: AuthorizationContext) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t), .literal(let t): out += t
            case .variable(let key, let def):
                guard let v = context.variableValue(key) ?? def else { return nil }
                out += v
            }
        }
        return out
    }

    /// The pattern with variables substituted as literal text, or nil if one cannot be resolved.
    func pattern(in context: AuthorizationContext) -> [PatternToken]? {
        if let staticPattern { return staticPattern }
        var out: [PatternToken] = []
        for part in parts {
            switch part {
            case .text(let t): PatternToken.appendPattern(t, to: &out)
            case .literal(let t): PatternToken.appendLiteral(t, to: &out)
            case .variable(let key, let def):
                guard let v = context.variableValue(key) ?? def else { return nil }
                PatternToken.appendLiteral(v, to: &out)
            }
        }
        return out
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
