import Foundation
import NIOCore

/// Where Redis is and how to talk to it.
public struct RedisConfiguration: Sendable {
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): "\(host):\(port)"
            case .unixSocket(let path): path
            }
        }
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

    /// Redis Sentinel: the data nodes' master is found by asking the sentinels, and found again
    /// after a failover. `address` is then only where the last master was.
    public struct Sentinel: Sendable, Equatable {
        /// The sentinels, tried in order.
        public var sentinels: [Address]
        /// The name the sentinels monitor the master under.
        public var masterName: String
        /// The sentinels' own password, if they need one (`--redis-sentinel-password`).
        public var password: String?

        public init(sentinels: [Address], masterName: String, password: String? = nil) {
            self.sentinels = sentinels
            self.masterName = masterName
            self.password = password
        }
    }

    /// Redis Cluster: commands go to the master of their key's hash slot, found from these seeds.
    public struct Cluster: Sendable, Equatable {
        /// Nodes to ask for the slot map first; the masters learnt from them are asked after.
        public var seeds: [Address]

        public init(seeds: [Address]) {
            self.seeds = seeds
        }
    }

    public var address: Address
    /// Set for `redis-cluster://` URLs.
    public var cluster: Cluster?
    /// Set for `redis-sentinel://` URLs.
    public var sentinel: Sentinel?
    /// With N > 0, every state-changing script is followed by `WAIT N` on the same connection:
    /// a change is acknowledged only once N replicas have it. 0: acknowledged when the master has it.
    public var waitReplicas: Int = RedisDefaults.waitReplicas
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
        connectionCount: Int = RedisDefaults.connections,
        commandTimeout: Duration = RedisDefaults.commandTimeout,
        connectTimeout: Duration = RedisDefaults.connectTimeout,
        reconnectBackoff: ClosedRange<Duration> = RedisDefaults.reconnectBackoffMin...RedisDefaults.reconnectBackoffMax
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
    /// `rediss://...` (TLS), `unix:///path/to/redis.sock[?db=N]` or
    /// `redis-sentinel://[user:password@]h1:26379[,h2:26379...]/MASTERNAME[?db=N]`
    /// (`rediss-sentinel://` for TLS to the data nodes; the password is the data nodes') or
    /// `redis-cluster://[user:password@]h1:7000[,h2:7001...]` (seed nodes; `rediss-cluster://`).
    public init(url string: String) throws(RedisClientError) {
        if let separator = string.range(of: "://") {
            let scheme = string[..<separator.lowerBound].lowercased()
            if ["redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"].contains(scheme) {
                try self.init(multiHostURL: string, rest: string[separator.upperBound...], scheme: scheme)
                return
            }
        }
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
            throw .invalidURL("unsupported scheme '\(scheme)' in \(string): use redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://")
        }
        self.username = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.password = components.password?.removingPercentEncoding
    }
}

extension RedisConfiguration {
    /// `[user:password@]h1:26379[,h2:26379...]/MASTERNAME[?db=N]` (Sentinel) or
    /// `[user:password@]h1:7000[,h2:7001...]` (Cluster): several hosts, which `URLComponents`
    /// does not read, so by hand.
    private init(multiHostURL string: String, rest: Substring, scheme: String) throws(RedisClientError) {
        let isSentinel = scheme.hasSuffix("sentinel")
        var rest = rest
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = parts[0].isEmpty ? nil : String(parts[0]).removingPercentEncoding
            password = parts.count > 1 ? String(parts[1]).removingPercentEncoding : nil
        }
        var masterName = ""
        if let slash = rest.firstIndex(of: "/") {
            masterName = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        if isSentinel {
            guard !masterName.isEmpty, !masterName.contains("/") else { throw .invalidURL("no master name in \(string): ...host:port/MASTERNAME") }
        } else {
            guard masterName.isEmpty else { throw .invalidURL("a cluster has no database or path: \(string)") }
        }
        var hosts: [Address] = []
        for host in rest.split(separator: ",") {
            let parts = host.split(separator: ":")
            guard (1...2).contains(parts.count), !parts[0].isEmpty else { throw .invalidURL("bad address '\(host)' in \(string)") }
            guard let port = parts.count == 2 ? Int(parts[1]) : (isSentinel ? 26379 : 6379), (1...65535).contains(port) else {
                throw .invalidURL("bad port in '\(host)' in \(string)")
            }
            hosts.append(.tcp(host: String(parts[0]), port: port))
        }
        guard let first = hosts.first else { throw .invalidURL("no host in \(string)") }
        var database = 0
        for item in query.split(separator: "&") where item.hasPrefix("db=") {
            guard let number = Int(item.dropFirst(3)), number >= 0 else { throw .invalidURL("bad database number in \(string)") }
            database = number
        }
        guard isSentinel || database == 0 else { throw .invalidURL("a cluster has only database 0: \(string)") }
        self.init(address: first, username: user, password: password, database: database)
        if isSentinel {
            self.sentinel = Sentinel(sentinels: hosts, masterName: masterName)
        } else {
            self.cluster = Cluster(seeds: hosts)
        }
        if scheme.hasPrefix("rediss") { self.tls = TLS() }
    }
}
