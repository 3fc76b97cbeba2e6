import NIOCore

/// Writes JSON straight into a `ByteBuffer`: the hot paths answer without Foundation's encoder.
/// A member (its key, and a value that is a number, a timestamp, `null` or a string needing no
/// escape) goes in with its quotes and separators in one write: each `ByteBuffer` write checks
/// capacity and indices, and a token's answer was some fifty of them.
struct JSONWriter {
    private(set) var buffer: ByteBuffer
    private var needsComma = false

    init(capacity: Int = 256) {
        self.buffer = ByteBuffer()
        self.buffer.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        self.separate()
        self.buffer.writeInteger(UInt8(ascii: "{"))
        self.needsComma = false
    }

    mutating func endObject() {
        self.buffer.writeInteger(UInt8(ascii: "}"))
        self.needsComma = true
    }

    /// A member whose value is an object: its members follow, then ``endObject()``.
    mutating func beginObject(_ key: StaticString) {
        self.key(key)
        self.beginObject()
    }

    mutating func beginArray(_ key: StaticString) {
        self.key(key)
        self.beginArray()
    }

    /// An array as an element of another, or the whole document.
    mutating func beginArray() {
        self.separate()
        self.buffer.writeInteger(UInt8(ascii: "["))
        self.needsComma = false
    }

    /// JSON text written as it is (the caller vouches for it), as a member's value or an element.
    mutating func raw(_ text: String) {
        self.separate()
        self.buffer.writeString(text)
        self.needsComma = true
    }

    /// A string element of an array.
    mutating func element(_ value: String) {
        self.separate()
        self.string(value)
        self.needsComma = true
    }

    /// A member whose value is JSON text already (metadata, written by this server), or `null`.
    mutating func field(_ key: StaticString, json: String?) {
        self.key(key)
        self.raw(json ?? "null")
    }

    mutating func endArray() {
        self.buffer.writeInteger(UInt8(ascii: "]"))
        self.needsComma = true
    }

    mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return self.null(key) }
        // Most strings (tokens, pools, holders) need no escape: the member in one write.
        var text = value
        let written = text.withUTF8 { bytes in
            guard !Self.needsEscape(bytes) else { return false }
            self.member(key, valueBytes: bytes.count + 2) { out in
                out[0] = UInt8(ascii: "\"")
                UnsafeMutableRawBufferPointer(rebasing: out[1...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                out[bytes.count + 1] = UInt8(ascii: "\"")
            }
            return true
        }
        guard !written else { return }
        self.key(key)
        self.string(value)
        self.needsComma = true
    }

    mutating func field(_ key: StaticString, _ value: Int64?) {
        guard let value else { return self.null(key) }
        let sign = value < 0 ? 1 : 0
        let digits = Self.digits(value.magnitude)
        self.member(key, valueBytes: sign + digits) { out in
            if sign == 1 { out[0] = UInt8(ascii: "-") }
            Self.putDecimal(value.magnitude, digits: digits, into: UnsafeMutableRawBufferPointer(rebasing: out[sign...]))
        }
    }

    /// Milliseconds since the epoch as an RFC 3339 string, or `null`.
    mutating func field(_ key: StaticString, timestampFromMilliseconds millis: Int64?) {
        guard let millis else { return self.null(key) }
        var inRange = true
        self.member(key, valueBytes: RFC3339.length + 2) { out in
            inRange = RFC3339.write(millis, to: UnsafeMutableRawBufferPointer(rebasing: out[1...]))
            out[0] = UInt8(ascii: "\"")
            out[RFC3339.length + 1] = UInt8(ascii: "\"")
        }
        guard !inRange else { return }
        // A year outside 0 to 9999 (never a deadline this server sets): written again, as text.
        self.buffer.moveWriterIndex(to: self.buffer.writerIndex - (RFC3339.length + 2))
        self.string(RFC3339.string(fromMilliseconds: millis))
    }

    /// `key: null`, in one write.
    private mutating func null(_ key: StaticString) {
        self.member(key, valueBytes: 4) { out in
            UnsafeMutableRawBufferPointer(rebasing: out[..<4]).copyMemory(from: UnsafeRawBufferPointer(start: Self.nullText.utf8Start, count: 4))
        }
    }

    private static let nullText: StaticString = "null"

    /// A member of this server's own key (letters only, nothing to escape) and a value of
    /// `count` bytes that `value` puts at the start of the space it is given: one write, so one
    /// capacity and index check (a token's answer was some fifty writes, then twenty-five).
    private mutating func member(_ key: StaticString, valueBytes count: Int, _ value: (UnsafeMutableRawBufferPointer) -> Void) {
        let comma = self.needsComma ? 1 : 0
        let keyCount = key.utf8CodeUnitCount
        let size = comma + keyCount + 3 + count
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            if comma == 1 { out[0] = UInt8(ascii: ",") }
            out[comma] = UInt8(ascii: "\"")
            UnsafeMutableRawBufferPointer(rebasing: out[(comma + 1)...]).copyMemory(
                from: UnsafeRawBufferPointer(start: key.utf8Start, count: keyCount))
            out[comma + 1 + keyCount] = UInt8(ascii: "\"")
            out[comma + 2 + keyCount] = UInt8(ascii: ":")
            value(UnsafeMutableRawBufferPointer(rebasing: out[(comma + keyCount + 3)...]))
            return size
        }
        self.needsComma = true
    }

    /// Milliseconds written as a decimal number of seconds: `1500` -> `1.5`, `nil` -> `null`.
    mutating func field(_ key: StaticString, secondsFromMilliseconds millis: Int64?) {
        self.key(key)
        if let millis {
            let (whole, fraction) = millis.quotientAndRemainder(dividingBy: 1000)
            if millis < 0 { self.buffer.writeStaticString("-") }
            self.decimal(whole.magnitude)
            if fraction != 0 {
                // Three digits, trailing zeros dropped: 500 -> ".5", 50 -> ".05".
                var digits = Int(fraction.magnitude)
                var width = 3
                while digits % 10 == 0 {
                    digits /= 10
                    width -= 1
                }
                self.buffer.writeInteger(UInt8(ascii: "."))
                self.decimal(UInt64(digits), width: width)
            }
        } else {
            self.buffer.writeStaticString("null")
        }
        self.needsComma = true
    }

    mutating func field(_ key: StaticString, _ value: Int) {
        self.field(key, Int64(value))
    }

    private mutating func separate() {
        if self.needsComma { self.buffer.writeInteger(UInt8(ascii: ",")) }
    }

    /// A member's key; its value comes next.
    mutating func key(_ key: String) {
        self.separate()
        self.string(key)
        self.buffer.writeInteger(UInt8(ascii: ":"))
        self.needsComma = false
    }

    /// A key of this server's own (letters only, nothing to escape), written as it is.
    private mutating func key(_ key: StaticString) {
        self.member(key, valueBytes: 0) { _ in }
        self.needsComma = false
    }

    /// At least `width` digits, zeros in front.
    private mutating func decimal(_ value: UInt64, width: Int = 1) {
        let digits = max(Self.digits(value), width)
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { out in
            Self.putDecimal(value, digits: digits, into: out)
            return digits
        }
    }

    /// How many decimal digits `value` has.
    private static func digits(_ value: UInt64) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// `value` as exactly `digits` decimal digits (zeros in front) at the start of `out`.
    private static func putDecimal(_ value: UInt64, digits: Int, into out: UnsafeMutableRawBufferPointer) {
        var value = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            out[index] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
            value /= 10
        }
    }

    /// Whether any byte must be escaped: a quote, a backslash or a control character. One tight
    /// loop over the string's bytes (`contains(where:)` took 23 instructions a byte).
    private static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            return true
        }
        return false
    }

    private mutating func string(_ value: String) {
        // Most strings (tokens, pools, holders) need no escape: one write, quotes and all.
        var value = value
        let written = value.withUTF8 { bytes in
            guard !Self.needsEscape(bytes) else { return false }
            self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count + 2) { out in
                out[0] = UInt8(ascii: "\"")
                UnsafeMutableRawBufferPointer(rebasing: out[1...]).copyMemory(from: UnsafeRawBufferPointer(bytes))
                out[bytes.count + 1] = UInt8(ascii: "\"")
                return bytes.count + 2
            }
            return true
        }
        if written { return }
        self.buffer.writeInteger(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self.buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): self.buffer.writeStaticString("\\\\")
            case 0..<0x20:
                self.buffer.writeStaticString("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                self.buffer.writeInteger(hex[Int(byte >> 4)])
                self.buffer.writeInteger(hex[Int(byte & 15)])
            default: self.buffer.writeInteger(byte)
            }
        }
        self.buffer.writeInteger(UInt8(ascii: "\""))
    }
}

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
