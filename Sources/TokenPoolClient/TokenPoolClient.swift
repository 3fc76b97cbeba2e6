import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A typed async client of TokenPool's HTTP API.
///
/// Written by hand rather than generated with swift-openapi-generator: the API is a dozen small
/// routes, and the generator would add its build plugin and runtime (minutes of build on a
/// fresh clone, in CI on every run) to the CLI and the load tool for no change in what a user
/// gets. The OpenAPI document stays the contract; `TokenPoolClientTests` runs this client
/// against a live server, so a drift fails a test.
///
/// ```swift
/// let pool = TokenPoolClient(baseURL: "http://127.0.0.1:8080", key: "client-key")
/// try await pool.withToken(in: "proxies") { token in
///     try await crawl(through: token.token)   // kept alive meanwhile, unblocked after
/// }
/// ```
public struct TokenPoolClient: Sendable {
    public let baseURL: String
    public let key: String?
    /// How long one request may take before it fails with ``TokenPoolClientError/Code/transport``.
    public let timeout: Duration
    /// Told of every answer: `HTTP/2.0 200 GET URL` (the protocol ALPN chose, the status, the
    /// request; never a header, so never the key). The CLI prints it with `TOKENPOOL_TRACE=1`.
    public var trace: (@Sendable (String) -> Void)?
    private let http: HTTPClient
    /// Where waiting assigns go (see ``init(baseURL:key:timeout:httpClient:)``).
    private let waitingHTTP: HTTPClient

    /// - Parameter httpClient: every call's connections, waiting assigns' too. Without one,
    ///   calls go on `HTTPClient.shared` and waiting assigns on ``waitingHTTPClient``: a wait
    ///   holds its connection while it waits, and on one client (`.shared` opens 8 to a host) as
    ///   many waits as it has connections would take them all, leaving none for the give-backs
    ///   and keep-alives that end them. A client you pass must allow more connections to the
    ///   server than the waits you run at once.
    public init(baseURL: String, key: String? = nil, timeout: Duration = .seconds(10), httpClient: HTTPClient? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = key
        self.timeout = timeout
        self.http = httpClient ?? .shared
        self.waitingHTTP = httpClient ?? Self.waitingHTTPClient
    }

    /// The process's client for waiting assigns, like `HTTPClient.shared` (never shut down) but
    /// with ``connectionsForWaits`` connections to a host: one for each wait.
    public static let waitingHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionsForWaits)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// HTTP/1 connections to a host of a client that carries waits: 10,000.
    static let connectionsForWaits = 10_000

    /// Adds `count` new free tokens (admin key), each with `metadata` (a JSON object of at most
    /// 4 KiB) if given. With `idempotencyKey`, a retry gets the first call's tokens back instead of new ones.
    public func generate(
        count: Int = 1, metadata: [String: JSONValue]? = nil, in pool: String = "default", idempotencyKey: String? = nil
    ) async throws(TokenPoolClientError) -> [TokenInfo] {
        let body = try Self.body(BatchBody(count: count, metadata: metadata.map { .object($0) }))
        return try await self.call(.POST, pool, "/tokens/batch", body: body, idempotencyKey: idempotencyKey, as: TokenList.self).tokens
    }

    /// Adds one new free token for each element of `metadata` (admin key), with that metadata
    /// (`nil`: none): 1 to 10000 of them.
    public func generate(
        eachWith metadata: [[String: JSONValue]?], in pool: String = "default", idempotencyKey: String? = nil
    ) async throws(TokenPoolClientError) -> [TokenInfo] {
        let objects: [JSONValue] = metadata.map { $0.map { .object($0) } ?? .null }
        let body = try Self.body(BatchBody(count: nil, metadata: .array(objects)))
        return try await self.call(.POST, pool, "/tokens/batch", body: body, idempotencyKey: idempotencyKey, as: TokenList.self).tokens
    }

    /// Replaces the token's metadata, or removes it with `nil` (admin key).
    @discardableResult
    public func setMetadata(_ metadata: [String: JSONValue]?, of token: String, in pool: String = "default") async throws(TokenPoolClientError) -> TokenInfo {
        let body = try Self.body(MetadataBody(metadata: metadata.map { .object($0) } ?? .null))
        return try await self.call(.PATCH, pool, "/tokens/\(Self.escaped(token))", body: body, as: TokenInfo.self)
    }

    /// A random free token under a new lease, held by `holder` (1 to 128 printable characters)
    /// if given. With `idempotencyKey`, a retry after a lost answer gets the same assignment back.
    /// - Throws: ``TokenPoolClientError`` with code `.noFreeToken` when none is free.
    public func assign(in pool: String = "default", idempotencyKey: String? = nil, holder: String? = nil) async throws(TokenPoolClientError) -> TokenInfo {
        let body = try holder.map { (holder) throws(TokenPoolClientError) in try Self.body(["holder": holder]) }
        return try await self.call(.POST, pool, "/tokens/assign", body: body, idempotencyKey: idempotencyKey, as: TokenInfo.self)
    }

    /// One page of the pool's tokens (client key): `.assigned` by lease deadline (soonest first),
    /// `.free`, or `.all` by life deadline. Pass the page's ``TokenPage/next`` for the next one.
    public func tokens(
        _ state: TokenListing = .all, in pool: String = "default", limit: Int = 100, cursor: String? = nil
    ) async throws(TokenPoolClientError) -> TokenPage {
        let query = "?state=\(state.rawValue)&limit=\(limit)" + (cursor.map { "&cursor=\(Self.escaped($0))" } ?? "")
        return try await self.call(.GET, pool, "/tokens" + query, as: TokenPage.self)
    }

    /// One page of the pools, with their counts and TTLs (client key).
    public func pools(limit: Int = 100, cursor: String? = nil) async throws(TokenPoolClientError) -> PoolPage {
        let query = "?limit=\(limit)" + (cursor.map { "&cursor=\(Self.escaped($0))" } ?? "")
        return try await self.call(.GET, nil, "/pools" + query, as: PoolPage.self)
    }

    /// One pool's counts and TTLs (client key).
    /// - Throws: ``TokenPoolClientError`` with code `.poolNotFound` for a pool never generated into, or deleted.
    public func pool(_ pool: String) async throws(TokenPoolClientError) -> PoolInfo {
        try await self.call(.GET, nil, "/pools/\(Self.escaped(pool))", as: PoolInfo.self)
    }

    /// Sets all the pool's own settings at once, shared by every replica (admin key): the TTLs
    /// (`nil`: the replicas' default), the `cooldown` every ended assignment rests, the
    /// `maxFailures` in a row that disable a token and its `quarantine`, each token's
    /// `rateLimit`, the `maxPerHolder` cap (`nil`: none, never, until enabled, none, none).
    @discardableResult
    public func configure(
        _ pool: String, leaseTTL: Duration?, keepAliveTTL: Duration?, cooldown: Duration? = nil, maxFailures: Int? = nil, quarantine: Duration? = nil,
        rateLimit: RateLimit? = nil, maxPerHolder: Int? = nil
    ) async throws(TokenPoolClientError) -> PoolInfo {
        func seconds(_ duration: Duration?) -> JSONValue {
            duration.map { .number($0.seconds) } ?? .null
        }
        let body = try Self.body([
            "leaseTTL": seconds(leaseTTL), "keepAliveTTL": seconds(keepAliveTTL), "cooldown": seconds(cooldown),
            "maxFailures": maxFailures.map { .number(Double($0)) } ?? .null, "quarantine": seconds(quarantine),
            "rateLimit": rateLimit.map { .object(["assigns": .number(Double($0.assigns)), "per": .number($0.per)]) } ?? .null,
            "maxPerHolder": maxPerHolder.map { .number(Double($0)) } ?? .null,
        ])
        return try await self.call(.PUT, nil, "/pools/\(Self.escaped(pool))", body: body, as: PoolInfo.self)
    }

    /// Removes the pool and everything in it (admin key).
    public func deletePool(_ pool: String) async throws(TokenPoolClientError) {
        _ = try await self.send(.DELETE, nil, "/pools/\(Self.escaped(pool))", body: nil, idempotencyKey: nil, timeout: self.timeout)
    }

    /// A random free token, or the next one freed within `wait`: the server queues the call,
    /// first come first served across its replicas (no polling). `wait` is at most the server's
    /// `--max-wait` (60 s by default; 25 s behind Heroku's router); the request's own timeout
    /// grows by `wait`.
    /// - Throws: ``TokenPoolClientError`` with code `.noFreeToken` when none came in time.
    public func assign(
        in pool: String = "default", idempotencyKey: String? = nil, holder: String? = nil, wait: Duration
    ) async throws(TokenPoolClientError) -> TokenInfo {
        let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { return try await self.assign(in: pool, idempotencyKey: idempotencyKey, holder: holder) }
        let seconds = String(format: "%.3f", Double(milliseconds) / 1000)
        let body = try holder.map { (holder) throws(TokenPoolClientError) in try Self.body(["holder": holder]) }
        return try await self.call(
            .POST, pool, "/tokens/assign?wait=\(seconds)", body: body, idempotencyKey: idempotencyKey, timeout: self.timeout + wait, waits: true,
            as: TokenInfo.self
        )
    }

    /// `count` distinct tokens at once, each under its own lease, all or none; with `wait`, the
    /// call waits in the pool's queue (a higher `priority`, -100 to 100, is served first) and
    /// the tokens freed while it is at the head are set aside for it until it has them all.
    /// - Throws: ``TokenPoolClientError`` with code `.noFreeToken` when fewer than `count` came,
    ///   `.holderLimit` when `holder` holds the pool's `maxPerHolder`.
    public func assign(
        count: Int, priority: Int = 0, wait: Duration = .zero, in pool: String = "default", idempotencyKey: String? = nil, holder: String? = nil
    ) async throws(TokenPoolClientError) -> [TokenInfo] {
        let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        var query = "?count=\(count)"
        if priority != 0 { query += "&priority=\(priority)" }
        if milliseconds > 0 { query += "&wait=" + String(format: "%.3f", Double(milliseconds) / 1000) }
        let body = try holder.map { (holder) throws(TokenPoolClientError) in try Self.body(["holder": holder]) }
        return try await self.call(
            .POST, pool, "/tokens/assign" + query, body: body, idempotencyKey: idempotencyKey, timeout: self.timeout + (milliseconds > 0 ? wait : .zero),
            waits: milliseconds > 0, as: TokenList.self
        ).tokens
    }

    /// One page of the pool's queue of waiting assigns, in the order they will be served, and
    /// the tokens set aside for its head (client key).
    public func waiters(of pool: String = "default", limit: Int = 100, cursor: String? = nil) async throws(TokenPoolClientError) -> WaiterPage {
        let query = "?limit=\(limit)" + (cursor.map { "&cursor=\(Self.escaped($0))" } ?? "")
        return try await self.call(.GET, pool, "/waiters" + query, as: WaiterPage.self)
    }

    /// Ends the token's assignment; with `lease`, only if that is still the current lease (else
    /// `.leaseConflict`). With `cooldown` the token rests that long before anyone may take it
    /// again (what an upstream 429's `Retry-After` said); without, the pool's cooldown applies.
    /// `outcome: .failure` counts toward the pool's `maxFailures`.
    @discardableResult
    public func unblock(
        _ token: String, lease: Int64? = nil, cooldown: Duration? = nil, outcome: Outcome? = nil, in pool: String = "default"
    ) async throws(TokenPoolClientError) -> TokenInfo {
        var query = [lease.map { "lease=\($0)" }, cooldown.map { "cooldown=\(String(format: "%.3f", $0.seconds))" }, outcome.map { "outcome=\($0.rawValue)" }]
            .compactMap { $0 }.joined(separator: "&")
        if !query.isEmpty { query = "?" + query }
        return try await self.call(.POST, pool, "/tokens/\(token)/unblock" + query, as: TokenInfo.self)
    }

    /// Takes the token out of service until enabled: an admin key may disable any token, a client
    /// key only the one it holds (`lease`). With an `idempotencyKey`, a retry answers the same.
    @discardableResult
    public func disable(
        _ token: String, lease: Int64? = nil, reason: String? = nil, in pool: String = "default", idempotencyKey: String? = nil
    ) async throws(TokenPoolClientError) -> TokenInfo {
        let body = try reason.map { (reason) throws(TokenPoolClientError) in try Self.body(["reason": reason]) }
        return try await self.call(.POST, pool, "/tokens/\(token)/disable" + Self.query(lease), body: body, idempotencyKey: idempotencyKey, as: TokenInfo.self)
    }

    /// Puts a disabled token back in service, its failures and reason cleared (admin key).
    @discardableResult
    public func enable(_ token: String, in pool: String = "default") async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.POST, pool, "/tokens/\(token)/enable", as: TokenInfo.self)
    }

    /// Extends the token's life and, if assigned, its lease; with `lease`, only that lease.
    /// `timeout` (default: the client's) bounds this call: a holder gives it what is left of its lease.
    @discardableResult
    public func keepAlive(
        _ token: String, lease: Int64? = nil, in pool: String = "default", timeout: Duration? = nil
    ) async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.POST, pool, "/tokens/\(token)/keep-alive" + Self.query(lease), timeout: timeout, as: TokenInfo.self)
    }

    /// Removes the token for good (admin key).
    public func delete(_ token: String, in pool: String = "default") async throws(TokenPoolClientError) {
        _ = try await self.send(.DELETE, pool, "/tokens/\(token)", body: nil, idempotencyKey: nil, timeout: self.timeout)
    }

    /// The token's state, changing nothing.
    public func inspect(_ token: String, in pool: String = "default") async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.GET, pool, "/tokens/\(token)", as: TokenInfo.self)
    }

    /// The pool's counts (admin key).
    public func stats(of pool: String = "default") async throws(TokenPoolClientError) -> PoolStats {
        try await self.call(.GET, pool, "/stats", as: PoolStats.self)
    }

    /// Assigns a token, runs `body` with it while keeping its lease alive (at a third of the
    /// lease's time left, a duration by Redis's clock, so this machine's clock does not matter),
    /// and unblocks it afterwards, also when `body` throws. If the lease is lost meanwhile (404
    /// or 409 on a keep-alive), `body` is cancelled and this throws that error.
    /// With `wait`, waits that long at most for a token (see ``assign(in:idempotencyKey:wait:)``).
    public func withToken<T: Sendable>(
        in pool: String = "default",
        idempotencyKey: String? = nil,
        holder: String? = nil,
        wait: Duration = .zero,
        _ body: @escaping @Sendable (TokenInfo) async throws -> T
    ) async throws -> T {
        let held = try await self.assign(in: pool, idempotencyKey: idempotencyKey, holder: holder, wait: wait)
        let result: Result<T, any Error> = await withTaskGroup(of: Result<T, any Error>?.self) { group in
            group.addTask {
                do {
                    return .success(try await body(held))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask { await self.keepAlive(held, in: pool) }
            let first = await group.next()!
            group.cancelAll()
            // The keep-alive loop ends only when the lease is lost; then body's outcome is moot.
            return first ?? .failure(CancellationError())
        }
        _ = try? await self.unblock(held.token, lease: held.lease, in: pool)
        return try result.get()
    }

    /// Keeps `held` alive until cancelled (`nil`) or the lease is lost (its error).
    func keepAlive<T>(_ held: TokenInfo, in pool: String) async -> Result<T, any Error>? {
        var interval = held.keepAliveInterval ?? .seconds(10)
        while !Task.isCancelled {
            do {
                try await monotonicSleep(for: interval)
            } catch {
                return nil
            }
            do {
                let kept = try await self.keepAlive(held.token, lease: held.lease, in: pool)
                interval = kept.keepAliveInterval ?? interval
            } catch where error.code == .leaseConflict || error.code == .tokenNotFound {
                return .failure(error)
            } catch {
                // Transient: try again sooner, while the lease still has time.
                interval = .milliseconds(max(50, interval.components.seconds * 500))
            }
        }
        return nil
    }

    private static func query(_ lease: Int64?) -> String {
        lease.map { "?lease=\($0)" } ?? ""
    }

    /// A path segment or query value, percent-encoded.
    static func escaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? text
    }

    /// `{"metadata": ...}`-style bodies, written by JSONEncoder.
    private static func body(_ value: some Encodable) throws(TokenPoolClientError) -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try JSONEncoder().encode(value))
        } catch {
            throw TokenPoolClientError(code: .badRequest, status: 0, problem: nil, message: "cannot write the request: \(error)")
        }
    }

    private func call<T: Decodable>(
        _ method: HTTPMethod, _ pool: String?, _ path: String, body: ByteBuffer? = nil, idempotencyKey: String? = nil, timeout: Duration? = nil,
        waits: Bool = false, as type: T.Type
    ) async throws(TokenPoolClientError) -> T {
        let bytes = try await self.send(method, pool, path, body: body, idempotencyKey: idempotencyKey, timeout: timeout ?? self.timeout, waits: waits)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes.readableBytesView))
        } catch {
            throw TokenPoolClientError(code: .server, status: 200, problem: nil, message: "an answer that is not a \(T.self): \(error)")
        }
    }

    /// One request to `path` under `pool`'s routes (`nil`: `path` from the root); the body of a
    /// 2xx answer, or the error the answer means.
    private func send(
        _ method: HTTPMethod, _ pool: String?, _ path: String, body: ByteBuffer?, idempotencyKey: String?, timeout: Duration, waits: Bool = false
    ) async throws(TokenPoolClientError) -> ByteBuffer {
        let prefix = pool.map { $0 == "default" ? "" : "/pools/\(Self.escaped($0))" } ?? ""
        var request = HTTPClientRequest(url: self.baseURL + prefix + path)
        request.method = method
        if let key = self.key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let status: Int
        let headers: HTTPHeaders
        let bytes: ByteBuffer
        do {
            let response = try await (waits ? self.waitingHTTP : self.http).execute(request, timeout: TimeAmount(timeout))
            self.trace?("\(response.version) \(response.status.code) \(method.rawValue) \(request.url)")
            status = Int(response.status.code)
            headers = response.headers
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw TokenPoolClientError(code: .transport, status: 0, problem: nil, message: "no answer from \(self.baseURL): \(error)")
        }
        if (200..<300).contains(status) { return bytes }
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(bytes.readableBytesView))
        let retryAfter = headers.first(name: "Retry-After").flatMap(Int64.init).map { Duration.seconds($0) }
        throw TokenPoolClientError.from(status: status, problem: problem, retryAfter: retryAfter)
    }
}
