/// Something went wrong between this process and Redis: the command may or may not have run.
///
/// Refusals by Redis itself (`-ERR` replies) are ``RedisServerError``s instead.
public struct RedisClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// No connection to Redis could be had before the command's deadline.
        case connectionUnavailable
        /// The connection closed before the reply arrived.
        case connectionClosed
        /// No reply before the command's deadline.
        case timeout
        /// The bytes from Redis were not RESP, or of a reply type this client does not know.
        case protocolError
        /// A reply that breaks the contract of the command or script that asked for it.
        case unexpectedReply
        /// A Redis URL that cannot be used.
        case invalidURL
        /// The change was made on the master, but fewer replicas than asked for acknowledged it
        /// before the deadline: it may or may not survive a failover.
        case notReplicated
    }

    public let code: Code
    /// What happened, for logs. Never holds a token.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func connectionUnavailable(_ message: String = "no connection to Redis") -> Self {
        Self(.connectionUnavailable, message)
    }
    public static let connectionClosed = Self(.connectionClosed, "connection to Redis closed")
    /// The connection is closed and re-established: a late reply could not be matched safely.
    public static let timeout = Self(.timeout, "Redis did not answer before the command's deadline")
    static func protocolError(_ message: String) -> Self { Self(.protocolError, "RESP protocol error: \(message)") }
    public static func unexpectedReply(_ message: String) -> Self { Self(.unexpectedReply, "unexpected reply: \(message)") }
    public static func invalidURL(_ message: String) -> Self { Self(.invalidURL, message) }
    public static func notReplicated(_ acknowledged: Int, of wanted: Int) -> Self {
        Self(.notReplicated, "the change reached \(acknowledged) of \(wanted) replicas in time; it may not survive a failover")
    }

    /// Trouble that passes by itself (no connection, a timeout): worth a retry. A protocol
    /// error or a reply that breaks a contract is a bug or corrupt data, and is not.
    public var isTransient: Bool {
        switch self.code {
        case .connectionUnavailable, .connectionClosed, .timeout, .notReplicated: true
        case .protocolError, .unexpectedReply, .invalidURL: false
        }
    }

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

    /// The replies Redis gives while it cannot serve for a while (loading, busy with a script,
    /// a replica or a cluster mid-failover): the same command may well succeed on a retry.
    /// Anything else (`WRONGTYPE`, a script error) will fail again the same way.
    public var isTransient: Bool {
        Self.transientPrefixes.contains(self.prefix)
    }

    /// `FCALL` or `FUNCTION` is not a command here (Redis before 7) or not one this user may run.
    var meansNoFunctions: Bool {
        (self.prefix == "ERR" && self.message.hasPrefix("ERR unknown command")) || self.prefix == "NOPERM"
    }

    private static let transientPrefixes: Set<Substring> = [
        "LOADING", "BUSY", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS",
    ]

    public var description: String { "Redis error: \(self.message)" }
}
