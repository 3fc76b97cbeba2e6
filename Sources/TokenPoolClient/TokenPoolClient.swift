import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A typed async client of TokenPool's HTTP API.
///
/// Written by hand rather than generated with swift-openapi-generator: the API is eight small
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
    private let http: HTTPClient

    public init(baseURL: String, key: String? = nil, timeout: Duration = .seconds(10), httpClient: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.key = key
        self.timeout = timeout
        self.http = httpClient
    }

    /// Adds `count` new free tokens (admin key). With `idempotencyKey`, a retry gets the first
    /// call's tokens back instead of new ones.
    public func generate(count: Int = 1, in pool: String = "default", idempotencyKey: String? = nil) async throws(TokenPoolClientError) -> [TokenInfo] {
        let body = ByteBuffer(string: #"{"count": \#(count)}"#)
        return try await self.call(.POST, pool, "/tokens/batch", body: body, idempotencyKey: idempotencyKey, as: TokenList.self).tokens
    }

    /// A random free token under a new lease. With `idempotencyKey`, a retry after a lost
    /// answer gets the same assignment back.
    /// - Throws: ``TokenPoolClientError`` with code `.noFreeToken` when none is free.
    public func assign(in pool: String = "default", idempotencyKey: String? = nil) async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.POST, pool, "/tokens/assign", idempotencyKey: idempotencyKey, as: TokenInfo.self)
    }

    /// A random free token, or the next one freed within `wait`: the server queues the call,
    /// first come first served across its replicas (no polling). `wait` is at most the server's
    /// `--max-wait` (60 s by default; 25 s behind Heroku's router); the request's own timeout
    /// grows by `wait`.
    /// - Throws: ``TokenPoolClientError`` with code `.noFreeToken` when none came in time.
    public func assign(in pool: String = "default", idempotencyKey: String? = nil, wait: Duration) async throws(TokenPoolClientError) -> TokenInfo {
        let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { return try await self.assign(in: pool, idempotencyKey: idempotencyKey) }
        let seconds = String(format: "%.3f", Double(milliseconds) / 1000)
        return try await self.call(.POST, pool, "/tokens/assign?wait=\(seconds)", idempotencyKey: idempotencyKey, timeout: self.timeout + wait, as: TokenInfo.self)
    }

    /// Frees the token; with `lease`, only if that is still the current lease (else `.leaseConflict`).
    @discardableResult
    public func unblock(_ token: String, lease: Int64? = nil, in pool: String = "default") async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.POST, pool, "/tokens/\(token)/unblock" + Self.query(lease), as: TokenInfo.self)
    }

    /// Extends the token's life and, if assigned, its lease; with `lease`, only that lease.
    @discardableResult
    public func keepAlive(_ token: String, lease: Int64? = nil, in pool: String = "default") async throws(TokenPoolClientError) -> TokenInfo {
        try await self.call(.POST, pool, "/tokens/\(token)/keep-alive" + Self.query(lease), as: TokenInfo.self)
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
        wait: Duration = .zero,
        _ body: @escaping @Sendable (TokenInfo) async throws -> T
    ) async throws -> T {
        let held = try await self.assign(in: pool, idempotencyKey: idempotencyKey, wait: wait)
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

    private func call<T: Decodable>(
        _ method: HTTPMethod, _ pool: String, _ path: String, body: ByteBuffer? = nil, idempotencyKey: String? = nil, timeout: Duration? = nil,
        as type: T.Type
    ) async throws(TokenPoolClientError) -> T {
        let bytes = try await self.send(method, pool, path, body: body, idempotencyKey: idempotencyKey, timeout: timeout ?? self.timeout)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes.readableBytesView))
        } catch {
            throw TokenPoolClientError(code: .server, status: 200, problem: nil, message: "an answer that is not a \(T.self): \(error)")
        }
    }

    /// One request; the body of a 2xx answer, or the error the answer means.
    private func send(
        _ method: HTTPMethod, _ pool: String, _ path: String, body: ByteBuffer?, idempotencyKey: String?, timeout: Duration
    ) async throws(TokenPoolClientError) -> ByteBuffer {
        let prefix = pool == "default" ? "" : "/pools/\(pool)"
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
            let response = try await self.http.execute(request, timeout: TimeAmount(timeout))
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
