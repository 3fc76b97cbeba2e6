/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds,
/// `2026-11-29T02:27:26.123Z`, without Foundation's date formatters.
enum RFC3339 {
    /// The bytes of a timestamp in the years 0 to 9999: `2023-11-14T22:13:20.123Z`.
    static let length = 24

    static func string(fromMilliseconds millis: Int64) -> String {
        let fixed = String(unsafeUninitializedCapacity: Self.length) { bytes in
            Self.write(millis, to: UnsafeMutableRawBufferPointer(bytes)) ? Self.length : 0
        }
        return fixed.isEmpty ? Self.anyYear(millis) : fixed
    }

    /// Writes the timestamp's ``length`` bytes at the start of `out` (at least that long), or
    /// nothing and false for a year outside 0 to 9999. No allocation: the JSON writer writes
    /// straight into its buffer with this.
    static func write(_ millis: Int64, to out: UnsafeMutableRawBufferPointer) -> Bool {
        let (days, msOfDay) = floorDivide(millis, 86_400_000)
        let (year, month, day) = civilDate(fromDays: days)
        guard (0...9999).contains(year) else { return false }
        var at = 0
        func put(_ value: Int64, _ width: Int, then separator: UInt8) {
            var value = value
            for index in stride(from: at + width - 1, through: at, by: -1) {
                out[index] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
                value /= 10
            }
            out[at + width] = separator
            at += width + 1
        }
        put(year, 4, then: UInt8(ascii: "-"))
        put(month, 2, then: UInt8(ascii: "-"))
        put(day, 2, then: UInt8(ascii: "T"))
        put(msOfDay / 3_600_000, 2, then: UInt8(ascii: ":"))
        put(msOfDay / 60_000 % 60, 2, then: UInt8(ascii: ":"))
        put(msOfDay / 1000 % 60, 2, then: UInt8(ascii: "."))
        put(msOfDay % 1000, 3, then: UInt8(ascii: "Z"))
        return true
    }

    /// Any year, negative or past 9999, as text (never a deadline this server sets).
    private static func anyYear(_ millis: Int64) -> String {
        let (days, msOfDay) = floorDivide(millis, 86_400_000)
        let (year, month, day) = civilDate(fromDays: days)
        var text = ""
        text.reserveCapacity(24)
        pad(&text, year, 4)
        text += "-"
        pad(&text, month, 2)
        text += "-"
        pad(&text, day, 2)
        text += "T"
        pad(&text, msOfDay / 3_600_000, 2)
        text += ":"
        pad(&text, msOfDay / 60_000 % 60, 2)
        text += ":"
        pad(&text, msOfDay / 1000 % 60, 2)
        text += "."
        pad(&text, msOfDay % 1000, 3)
        text += "Z"
        return text
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let remainder = a % b
        return remainder < 0 ? (a / b - 1, remainder + b) : (a / b, remainder)
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ text: inout String, _ value: Int64, _ width: Int) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }
}
