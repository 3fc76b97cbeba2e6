/// Something went wrong between this process and Redis: the command may or may not have run.
///
/// Refusals by Redis itself (`-ERR` replies) are ``RedisServerError``s instead.
public struct RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case connectionUnavailable
        case connectionClosed
        case timeout
        case protocolError
        case unexpectedReply
        case invalidURL
    }

    private let code: Code
    /// What happened, for logs.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// No connection to Redis could be had within the command timeout.
    public static func connectionUnavailable(_ message: String = "no connection to Redis") -> Self {
        Self(.connectionUnavailable, message)
    }
    /// The connection closed before the reply arrived.
    public static let connectionClosed = Self(.connectionClosed, "connection to Redis closed")
    /// No reply within the command timeout; the connection is closed and re-established.
    public static let timeout = Self(.timeout, "Redis did not answer within the command timeout")
    /// The bytes from Redis were not RESP.
    static func protocolError(_ message: String) -> Self { Self(.protocolError, "RESP protocol error: \(message)") }
    /// A reply whose shape the caller did not expect.
    public static func unexpectedReply(_ message: String) -> Self { Self(.unexpectedReply, "unexpected reply: \(message)") }
    /// A Redis URL that cannot be used.
    public static func invalidURL(_ message: String) -> Self { Self(.invalidURL, message) }

    public var description: String { self.message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}

/// Redis answered a command with an error reply (`-ERR ...`, `-NOSCRIPT ...`).
public struct RedisServerError: Error, Sendable, CustomStringConvertible {
    /// The reply's text, e.g. `NOSCRIPT No matching script.`
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    /// The first word of the reply: `ERR`, `NOSCRIPT`, `WRONGTYPE`, `BUSY`...
    public var prefix: Substring { self.message.prefix { $0 != " " } }

    public var description: String { "Redis error: \(self.message)" }
}
