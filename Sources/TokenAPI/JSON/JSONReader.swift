import NIOCore

/// A JSON value as a request body holds it: objects keep their members' order, numbers their
/// text, so metadata is stored and answered as it was sent (minified), never reordered or rounded.
indirect enum RequestJSON: Equatable {
    case null
    case bool(Bool)
    /// The number's text, checked against JSON's grammar.
    case number(String)
    case string(String)
    case array([RequestJSON])
    case object([Member])

    struct Member: Equatable {
        var key: String
        var value: RequestJSON
    }

    /// The member `key` of an object; `nil` when absent or not an object.
    subscript(key: String) -> RequestJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value as compact JSON text.
    var text: String {
        var writer = JSONWriter(capacity: 64)
        writer.value(self)
        return String(buffer: writer.buffer)
    }
}

/// Reads one JSON value (RFC 8259) from a request body, strictly: no trailing commas, comments,
/// duplicate keys or lone surrogates, at most 64 levels deep. Errors say where, for a 400.
struct JSONReader {
    struct Failure: Error {
        var message: String
    }

    private let bytes: [UInt8]
    private var index = 0
    private static let maxDepth = 64

    /// Parses the whole of `buffer` as one value.
    static func parse(_ buffer: ByteBuffer) throws(Failure) -> RequestJSON {
        var reader = JSONReader(bytes: Array(buffer.readableBytesView))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == reader.bytes.count else { throw reader.failure("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func failure(_ message: String) -> Failure {
        Failure(message: "\(message) at byte \(self.index)")
    }

    private var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    private mutating func skipSpace() {
        while let byte = self.current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { self.index += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(Failure) {
        let text = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        guard self.bytes.count - self.index >= text.count, self.bytes[self.index..<self.index + text.count].elementsEqual(text) else {
            throw self.failure("not JSON")
        }
        self.index += text.count
    }

    private mutating func value(depth: Int) throws(Failure) -> RequestJSON {
        guard depth < Self.maxDepth else { throw self.failure("nested deeper than \(Self.maxDepth) levels") }
        switch self.current {
        case UInt8(ascii: "{"): return try self.object(depth: depth)
        case UInt8(ascii: "["): return try self.array(depth: depth)
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"):
            try self.expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.expect("null")
            return .null
        case .some(let byte) where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte): return .number(try self.number())
        case .none: throw self.failure("the JSON ends early")
        default: throw self.failure("not JSON")
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> RequestJSON {
        self.index += 1
        var members: [RequestJSON.Member] = []
        var keys = Set<String>()
        self.skipSpace()
        if self.current == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        while true {
            self.skipSpace()
            guard self.current == UInt8(ascii: "\"") else { throw self.failure("an object's key must be a string") }
            let key = try self.string()
            guard keys.insert(key).inserted else { throw self.failure("the key '\(key.prefix(32))' appears twice") }
            self.skipSpace()
            guard self.current == UInt8(ascii: ":") else { throw self.failure("':' expected") }
            self.index += 1
            self.skipSpace()
            members.append(RequestJSON.Member(key: key, value: try self.value(depth: depth + 1)))
            self.skipSpace()
            switch self.current {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return .object(members)
            default: throw self.failure("',' or '}' expected")
            }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> RequestJSON {
        self.index += 1
        var elements: [RequestJSON] = []
        self.skipSpace()
        if self.current == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            self.skipSpace()
            elements.append(try self.value(depth: depth + 1))
            self.skipSpace()
            switch self.current {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return .array(elements)
            default: throw self.failure("',' or ']' expected")
            }
        }
    }

    private mutating func number() throws(Failure) -> String {
        let start = self.index
        func digits(_ reader: inout JSONReader) -> Int {
            let from = reader.index
            while let byte = reader.current, (0x30...0x39).contains(byte) { reader.index += 1 }
            return reader.index - from
        }
        if self.current == UInt8(ascii: "-") { self.index += 1 }
        let integerStart = self.index
        let integerDigits = digits(&self)
        guard integerDigits > 0, integerDigits == 1 || self.bytes[integerStart] != UInt8(ascii: "0") else { throw self.failure("not a JSON number") }
        if self.current == UInt8(ascii: ".") {
            self.index += 1
            guard digits(&self) > 0 else { throw self.failure("not a JSON number") }
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            self.index += 1
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.index += 1 }
            guard digits(&self) > 0 else { throw self.failure("not a JSON number") }
        }
        return String(decoding: self.bytes[start..<self.index], as: UTF8.self)
    }

    private mutating func string() throws(Failure) -> String {
        self.index += 1
        var scalars = String.UnicodeScalarView()
        var run = self.index
        var utf8: [UInt8] = []
        while true {
            guard let byte = self.current else { throw self.failure("a string that does not end") }
            switch byte {
            case UInt8(ascii: "\""):
                utf8 += self.bytes[run..<self.index]
                self.index += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw self.failure("a string that is not UTF-8") }
                scalars.append(contentsOf: text.unicodeScalars)
                return String(scalars)
            case UInt8(ascii: "\\"):
                utf8 += self.bytes[run..<self.index]
                self.index += 1
                guard let escaped = self.current else { throw self.failure("a string that does not end") }
                self.index += 1
                let scalar: Unicode.Scalar
                switch escaped {
                case UInt8(ascii: "\""): scalar = "\""
                case UInt8(ascii: "\\"): scalar = "\\"
                case UInt8(ascii: "/"): scalar = "/"
                case UInt8(ascii: "b"): scalar = "\u{08}"
                case UInt8(ascii: "f"): scalar = "\u{0C}"
                case UInt8(ascii: "n"): scalar = "\n"
                case UInt8(ascii: "r"): scalar = "\r"
                case UInt8(ascii: "t"): scalar = "\t"
                case UInt8(ascii: "u"): scalar = try self.unicodeEscape()
                default: throw self.failure("an unknown escape")
                }
                utf8 += Array(String(scalar).utf8)
                run = self.index
            case 0..<0x20:
                throw self.failure("a control character in a string")
            default:
                self.index += 1
            }
        }
    }

    /// After `\u`: four hex digits, a surrogate pair's two escapes together.
    private mutating func unicodeEscape() throws(Failure) -> Unicode.Scalar {
        let high = try self.hex4()
        if (0xD800...0xDBFF).contains(high) {
            guard self.current == UInt8(ascii: "\\"), self.index + 1 < self.bytes.count, self.bytes[self.index + 1] == UInt8(ascii: "u") else {
                throw self.failure("a lone surrogate")
            }
            self.index += 2
            let low = try self.hex4()
            guard (0xDC00...0xDFFF).contains(low), let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                throw self.failure("a lone surrogate")
            }
            return scalar
        }
        guard let scalar = Unicode.Scalar(high) else { throw self.failure("a lone surrogate") }
        return scalar
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard self.bytes.count - self.index >= 4,
            self.bytes[self.index..<self.index + 4].allSatisfy({ UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 || UInt8(ascii: "a")...UInt8(ascii: "f") ~= $0 | 0x20 }),
            let value = UInt32(String(decoding: self.bytes[self.index..<self.index + 4], as: UTF8.self), radix: 16)
        else { throw self.failure("\\u needs four hex digits") }
        self.index += 4
        return value
    }
}

extension JSONWriter {
    /// Any value, compactly.
    mutating func value(_ value: RequestJSON) {
        switch value {
        case .null: self.raw("null")
        case .bool(let flag): self.raw(flag ? "true" : "false")
        case .number(let text): self.raw(text)
        case .string(let text): self.element(text)
        case .array(let elements):
            self.beginArray()
            for element in elements { self.value(element) }
            self.endArray()
        case .object(let members):
            self.beginObject()
            for member in members {
                self.key(member.key)
                self.value(member.value)
            }
            self.endObject()
        }
    }
}
