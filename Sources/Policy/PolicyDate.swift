/// Dates for `Date*` conditions and `aws:CurrentTime`, without Foundation: ISO 8601 (`2026-11-22`,
/// `2026-11-22T10:00:00Z`, fractional seconds, `±hh:mm` offsets; no zone means UTC) or epoch seconds
/// (`1795000000`, as IAM also accepts). Values are milliseconds since the Unix epoch.
enum PolicyDate {
    static func parse(_ text: String) -> Int64? {
        let s = Array(text.utf8)
        guard !s.isEmpty else { return nil }
        let numeric = s.allSatisfy { isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
        if numeric, !s.dropFirst().contains(UInt8(ascii: "-")) {
            guard let seconds = Double(text), seconds.isFinite, abs(seconds) < 1e14 else { return nil }
            return Int64((seconds * 1000).rounded(.down))
        }
        var i = 0
        func number(_ digits: Int) -> Int64? {
            guard i + digits <= s.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + digits) {
                guard isDigit(s[k]) else { return nil }
                v = v * 10 + Int64(s[k] - UInt8(ascii: "0"))
            }
            i += digits
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var ms = daysFromCivil(year: year, month: month, day: day) * 86_400_000
        if i == s.count { return ms }
        guard expect("T") || expect("t") || expect(" ") else { return nil }
        guard let hour = number(2), expect(":"), let minute = number(2), hour < 24, minute < 60 else { return nil }
        ms += (hour * 3600 + minute * 60) * 1000
        if expect(":") {
            guard let second = number(2), second < 61 else { return nil }
            ms += second * 1000
            if expect(".") {
                var scale: Int64 = 100
                var any = false
                while i < s.count, isDigit(s[i]) {
                    ms += Int64(s[i] - UInt8(ascii: "0")) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        if i == s.count || expect("Z") || expect("z") { return i == s.count ? ms : nil }
        let sign: Int64
        if expect("+") { sign = 1 } else if expect("-") { sign = -1 } else { return nil }
        guard let oh = number(2), oh < 24 else { return nil }
        _ = expect(":")
        guard let om = number(2), om < 60, i == s.count else { return nil }
        return ms - sign * (oh * 3600 + om * 60) * 1000
    }

    /// `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds), the form `aws:CurrentTime` takes in the request context.
    static func iso8601(milliseconds ms: Int64) -> String {
        let seconds = AuthorizationContext.floorDiv(ms, 1000)
        let days = AuthorizationContext.floorDiv(seconds, 86_400)
        let secOfDay = seconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let t = String(v)
            return String(repeating: "0", count: max(0, width - t.count)) + t
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):"
            + "\(pad(secOfDay % 60, 2))Z"
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (years here are 0000–9999). Counts whole years,
    /// then the months of the last one.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        // Days before `year` since 0000-01-01, then shift so 1970-01-01 is day 0.
        let y = year - 1
        let beforeYear = year * 365 + (y >= 0 ? y / 4 - y / 100 + y / 400 + 1 : 0)
        var days = beforeYear
        for m in 1..<month { days += daysIn(month: m, year: year) }
        days += day - 1
        return days - 719_528  // days from 0000-01-01 to 1970-01-01
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        var year: Int64 = 1970 + days / 366
        while daysFromCivil(year: year + 1, month: 1, day: 1) <= days { year += 1 }
        while daysFromCivil(year: year, month: 1, day: 1) > days { year -= 1 }
        var rest = days - daysFromCivil(year: year, month: 1, day: 1)
        var month: Int64 = 1
        while rest >= daysIn(month: month, year: year) {
            rest -= daysIn(month: month, year: year)
            month += 1
        }
        return (year, month, rest + 1)
    }
}
