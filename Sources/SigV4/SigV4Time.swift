/// The two date formats SigV4 meets, to and from seconds since 1970 (UTC), without Foundation:
/// - `X-Amz-Date` and the string to sign use ISO 8601 basic, `yyyyMMdd'T'HHmmss'Z'` (`20260520T123456Z`);
/// - the `Date` header uses RFC 7231 IMF-fixdate (`Wed, 20 May 2026 12:34:56 GMT`); botocore writes the zone as
///   `-0000`, so numeric zones are read too.
enum SigV4Time {
    /// `20260520T123456Z` → seconds since 1970; nil unless exactly that shape and a real date and time.
    static func parseBasic(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z"),
              let year = digits(b[0..<4]), let month = digits(b[4..<6]), let day = digits(b[6..<8]),
              let hour = digits(b[9..<11]), let minute = digits(b[11..<13]), let second = digits(b[13..<15])
        else { return nil }
        return epoch(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// `Wed, 20 May 2026 12:34:56 GMT` (weekday optional, zone `GMT`, `UTC`, `Z` or `±hhmm`) → seconds since 1970.
    /// Dates in ISO basic form are accepted too, since some signers put that in `Date`.
    static func parseHTTPDate(_ text: String) -> Int64? {
        if let t = parseBasic(text) { return t }
        var fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if let first = fields.first, first.hasSuffix(",") { fields.removeFirst() }
        guard fields.count == 5, let day = digits(Array(fields[0].utf8)[...]),
              let month = months.firstIndex(of: fields[1].lowercased()), let year = digits(Array(fields[2].utf8)[...])
        else { return nil }
        let clock = fields[3].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, let hour = digits(Array(clock[0].utf8)[...]),
              let minute = digits(Array(clock[1].utf8)[...]), let second = digits(Array(clock[2].utf8)[...]),
              let offset = zoneOffset(fields[4]),
              let local = epoch(
                  year: year, month: Int64(month) + 1, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        return local - offset
    }

    /// Seconds since 1970 → `20260520T123456Z`.
    static func formatBasic(_ t: Int64) -> String {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        return pad(y, 4) + pad(m, 2) + pad(d, 2) + "T" + pad(secs / 3600, 2) + pad(secs / 60 % 60, 2)
            + pad(secs % 60, 2) + "Z"
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    private static func zoneOffset(_ zone: String) -> Int64? {
        switch zone.uppercased() {
        case "GMT", "UTC", "UT", "Z": return 0
        default:
            let b = Array(zone.utf8)
            guard b.count == 5, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-"),
                  let hh = digits(b[1..<3]), let mm = digits(b[3..<5]), mm < 60
            else { return nil }
            let seconds = hh * 3600 + mm * 60
            return b[0] == UInt8(ascii: "-") ? -seconds : seconds
        }
    }

    private static func digits(_ b: ArraySlice<UInt8>) -> Int64? {
        guard !b.isEmpty, b.count <= 9 else { return nil }
        var v: Int64 = 0
        for c in b {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            v = v * 10 + Int64(c - UInt8(ascii: "0"))
        }
        return v
    }

    private static func epoch(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64)
        -> Int64?
    {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
              second < 61
        else { return nil }
        return days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    private static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date, counting in 400-year eras that start on 1 March
    /// (so the leap day is the last day of an era-year and falls out of the month arithmetic).
    private static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthFromMarch = (month + 9) % 12
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `days(year:month:day:)`.
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
