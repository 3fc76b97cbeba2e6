import NIOCore

/// One RESP2 reply from Redis, decoded into plain Swift values.
package enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    /// An `-ERR ...` reply: the command reached Redis and Redis refused it.
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// The text of a simple or bulk string, `nil` for any other reply.
    package var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes): String(buffer: bytes)
        default: nil
        }
    }

    /// An integer reply, or a string reply that spells an integer.
    package var int: Int? {
        switch self {
        case .integer(let value): value
        case .simpleString, .bulkString: self.string.flatMap { Int($0) }
        default: nil
        }
    }

    package var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    package var isNull: Bool { self == .null }

    /// The reply's kind and size, for an error message that must not hold a token.
    package var shape: String {
        switch self {
        case .simpleString: "a status reply"
        case .error: "an error reply"
        case .integer: "an integer"
        case .bulkString: "a string"
        case .null: "a null"
        case .array(let elements): "an array of \(elements.count)"
        }
    }
}
