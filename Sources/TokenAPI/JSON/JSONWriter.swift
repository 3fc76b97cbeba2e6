import NIOCore

/// Writes JSON straight into a `ByteBuffer`: the hot paths answer without Foundation's encoder.
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

    mutating func beginArray(_ key: String) {
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
    mutating func field(_ key: String, json: String?) {
        self.key(key)
        self.raw(json ?? "null")
    }

    mutating func endArray() {
        self.buffer.writeInteger(UInt8(ascii: "]"))
        self.needsComma = true
    }

    mutating func field(_ key: String, _ value: String?) {
        self.key(key)
        if let value { self.string(value) } else { self.buffer.writeStaticString("null") }
        self.needsComma = true
    }

    mutating func field(_ key: String, _ value: Int64?) {
        self.key(key)
        if let value { self.buffer.writeString(String(value)) } else { self.buffer.writeStaticString("null") }
        self.needsComma = true
    }

    /// Milliseconds written as a decimal number of seconds: `1500` -> `1.5`, `nil` -> `null`.
    mutating func field(_ key: String, secondsFromMilliseconds millis: Int64?) {
        self.key(key)
        if let millis {
            let (whole, fraction) = millis.quotientAndRemainder(dividingBy: 1000)
            if millis < 0 { self.buffer.writeStaticString("-") }
            self.buffer.writeString(String(abs(whole)))
            if fraction != 0 {
                var digits = String(abs(fraction))
                digits = String(repeating: "0", count: 3 - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                self.buffer.writeString("." + digits)
            }
        } else {
            self.buffer.writeStaticString("null")
        }
        self.needsComma = true
    }

    mutating func field(_ key: String, _ value: Int) {
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

    private mutating func string(_ value: String) {
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
