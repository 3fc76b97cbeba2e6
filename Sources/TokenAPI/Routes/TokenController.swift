import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RedisTokenPool

/// The token routes, registered once for the `default` pool (`/tokens...`) and once for
/// named pools (`/pools/{pool}/tokens...`), each behind the key its role needs.
struct TokenController<Context: ChannelRequestContext>: Sendable {
    let pool: TokenPool
    /// Request bodies larger than this are refused with 413.
    let maxBodySize: Int
    let keys: APIKeys

    func addRoutes(to router: Router<Context>) {
        for (prefix, pool) in [("", { _ in .default }), ("pools/:pool", Self.poolName)] as [(RouterPath, @Sendable (Context) throws -> PoolName)] {
            self.addAdminRoutes(to: router.group(prefix).add(middleware: KeyAuthMiddleware(keys: self.keys, required: .admin)), pool: pool)
            self.addClientRoutes(to: router.group(prefix).add(middleware: KeyAuthMiddleware(keys: self.keys, required: .client)), pool: pool)
        }
    }

    /// Generate, batch, delete, stats.
    private func addAdminRoutes(to group: RouterGroup<Context>, pool: @escaping @Sendable (Context) throws -> PoolName) {
        group.post("tokens") { request, context in
            let (name, key) = try (pool(context), Self.idempotencyKey(request))
            return try await self.pool.generate(count: 1, in: name, idempotencyKey: key)[0].json(status: .created)
        }
        group.post("tokens/batch") { request, context in
            let (name, key) = try (pool(context), Self.idempotencyKey(request))
            let count = try await self.batchCount(request)
            return try await self.pool.generate(count: count, in: name, idempotencyKey: key).json(status: .created)
        }
        group.delete("tokens/:token") { _, context in
            let (name, token) = try (pool(context), Self.token(context))
            try await self.pool.delete(token, in: name)
            return Response(status: .noContent)
        }
        group.get("stats") { _, context in
            try await self.pool.stats(of: pool(context)).json()
        }
    }

    /// Assign, unblock, keep-alive, inspect.
    private func addClientRoutes(to group: RouterGroup<Context>, pool: @escaping @Sendable (Context) throws -> PoolName) {
        group.post("tokens/assign") { request, context in
            let (name, key, wait) = try (pool(context), Self.idempotencyKey(request), self.wait(request))
            guard let wait else {
                return try await self.pool.assign(in: name, idempotencyKey: key).json()
            }
            switch try await self.pool.startAssign(in: name, idempotencyKey: key, wait: wait) {
            case .assigned(let record):
                return try record.json()
            case .queued(let place):
                // A client that goes away leaves the queue at once.
                do {
                    return try await context.untilClientLeaves { try await place.token() }.json()
                } catch is CancellationError {
                    // The client went away while it waited (nginx's 499): nobody reads this answer.
                    context.logger.debug("A waiting client left", metadata: ["tokenpool.pool": "\(name)"])
                    throw ProblemDetails(.init(code: 499, reasonPhrase: "Client Closed Request"), "client-closed-request", "the client left while it waited")
                }
            }
        }
        group.post("tokens/:token/unblock") { request, context in
            let (name, token, lease) = try (pool(context), Self.token(context), Self.lease(request))
            return try await self.pool.unblock(token, lease: lease, in: name).json()
        }
        group.post("tokens/:token/keep-alive") { request, context in
            let (name, token, lease) = try (pool(context), Self.token(context), Self.lease(request))
            return try await self.pool.keepAlive(token, lease: lease, in: name).json()
        }
        group.get("tokens/:token") { _, context in
            let (name, token) = try (pool(context), Self.token(context))
            return try await self.pool.inspect(token, in: name).json()
        }
    }

    private struct BatchRequest: Decodable {
        var count: Int
    }

    private func batchCount(_ request: Request) async throws -> Int {
        let body = try await request.body.collect(upTo: self.maxBodySize)
        let batch: BatchRequest
        do {
            batch = try JSONDecoder().decode(BatchRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw ProblemDetails.badRequest("the body must be JSON like {\"count\": 10}")
        }
        guard (1...TokenPool.maxBatch).contains(batch.count) else {
            throw ProblemDetails.badRequest("count must be from 1 to \(TokenPool.maxBatch), not \(batch.count)")
        }
        return batch.count
    }

    @Sendable private static func poolName(_ context: Context) throws -> PoolName {
        let text = context.parameters.get("pool") ?? ""
        guard let name = PoolName(text) else {
            throw ProblemDetails.badRequest("a pool name is 1 to 64 characters of [A-Za-z0-9_-]")
        }
        return name
    }

    private static func token(_ context: Context) throws -> Token {
        guard let token = context.parameters.get("token").flatMap({ Token($0) }) else {
            throw ProblemDetails.badRequest("a token is \(Token.length) characters of [A-Za-z0-9_-]")
        }
        return token
    }

    /// `Idempotency-Key`: 1 to 255 visible ASCII characters, or nothing.
    private static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ProblemDetails.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    /// How long an assign may wait: `?wait=SECONDS`, a decimal number from 0 to the maximum
    /// wait (else 400), or else `Prefer: wait=SECONDS` (RFC 7240), which as a preference is
    /// ignored when it is not a number and honoured up to the maximum when it is more.
    /// Nothing or 0: no wait.
    private func wait(_ request: Request) throws -> Duration? {
        let maximum = self.pool.settings.maxWait
        if let text = request.uri.queryParameters.get("wait") {
            guard let wait = Self.duration(text) else {
                throw ProblemDetails.badRequest("wait must be a number of seconds from 0 to \(maximum.secondsText), not '\(text.prefix(32))'")
            }
            guard wait <= maximum else {
                throw ProblemDetails.badRequest("wait must be at most \(maximum.secondsText) seconds (--max-wait), not \(text.prefix(32))")
            }
            return wait > .zero ? wait : nil
        }
        guard let preferred = request.headers[values: .prefer].lazy.compactMap(Self.preferredWait).first else { return nil }
        let wait = min(preferred, maximum)
        return wait > .zero ? wait : nil
    }

    /// A non-negative number as JSON writes one: `10`, `0.25`, `1e1` (no `inf`, `nan` or hex).
    private static func duration(_ text: String) -> Duration? {
        let allowed = text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || [0x2E, 0x65, 0x45, 0x2B, 0x2D].contains($0) }
        guard allowed, let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds < 1e9 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The `wait` preference of one `Prefer` field value (`wait=10`, `respond-async, wait=5`),
    /// nil when there is none or it is not a number.
    private static func preferredWait(_ field: String) -> Duration? {
        for preference in field.split(separator: ",") {
            let parts = preference.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].lowercased() == "wait" { return Self.duration(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }
        }
        return nil
    }

    /// `?lease=N`, a positive integer, or nothing.
    private static func lease(_ request: Request) throws -> Int64? {
        guard let text = request.uri.queryParameters.get("lease") else { return nil }
        guard let lease = Int64(text), lease > 0 else {
            throw ProblemDetails.badRequest("lease must be a positive integer")
        }
        return lease
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let prefer = Self("Prefer")!
}
