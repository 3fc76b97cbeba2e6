import Foundation
import NIOCore

/// Where Redis is and how to talk to it.
public struct RedisConfiguration: Sendable {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    /// TLS to Redis (`rediss://`): managed Redis services speak it.
    public struct TLS: Sendable, Equatable {
        /// A PEM file of CA certificates to trust instead of the system's.
        public var caFile: String?
        /// Accept any certificate (Heroku Redis's are self-signed). Off unless asked for.
        public var insecure: Bool

        public init(caFile: String? = nil, insecure: Bool = false) {
            self.caFile = caFile
            self.insecure = insecure
        }
    }

    public var address: Address
    public var tls: TLS?
    public var username: String?
    public var password: String?
    public var database: Int
    /// Connections kept open; commands are pipelined on each.
    public var connectionCount: Int
    /// One deadline per command, from when it is sent: the wait for a connection and for the reply.
    public var commandTimeout: Duration
    public var connectTimeout: Duration
    /// Reconnect delays double from the first to the last.
    public var reconnectBackoff: ClosedRange<Duration>

    public init(
        address: Address,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectionCount: Int = Defaults.redisConnections,
        commandTimeout: Duration = Defaults.redisTimeout,
        connectTimeout: Duration = Defaults.connectTimeout,
        reconnectBackoff: ClosedRange<Duration> = Defaults.reconnectBackoffMin...Defaults.reconnectBackoffMax
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.connectionCount = max(1, connectionCount)
        self.commandTimeout = commandTimeout
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
    }

    /// Reads `redis://[user:password@]host[:port][/db]`, `redis://...?db=N`,
    /// `rediss://...` (TLS) or `unix:///path/to/redis.sock[?db=N]`.
    public init(url string: String) throws(RedisClientError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw .invalidURL("not a Redis URL: \(string)")
        }
        let query = components.queryItems ?? []
        var database = 0
        if let text = query.first(where: { $0.name == "db" })?.value {
            guard let number = Int(text), number >= 0 else { throw .invalidURL("bad database number in \(string)") }
            database = number
        }
        switch scheme {
        case "redis", "rediss":
            guard let host = components.host, !host.isEmpty else { throw .invalidURL("no host in \(string)") }
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { throw .invalidURL("bad database number in \(string)") }
                database = number
            }
            self.init(address: .tcp(host: host, port: components.port ?? 6379), database: database)
            if scheme == "rediss" { self.tls = TLS() }
        case "unix", "redis+unix":
            guard !components.path.isEmpty else { throw .invalidURL("no socket path in \(string)") }
            self.init(address: .unixSocket(path: components.path), database: database)
        default:
            throw .invalidURL("unsupported scheme '\(scheme)' in \(string): use redis://, rediss:// or unix://")
        }
        self.username = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.password = components.password?.removingPercentEncoding
    }
}
