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

    /// Adds the routes to `router`, whose own middlewares are `middlewares`; returns assign,
    /// unblock and keep-alive, with the same middlewares and handlers, for ``HotRouteResponder``.
    func addRoutes(to router: Router<Context>, middlewares: [any MiddlewareProtocol<Request, Response, Context>]) -> HotRoutes<Context> {
        let client = KeyAuthMiddleware<Context>(keys: self.keys, required: .client)
        var hot: [HotRoutes<Context>.Handlers] = []
        for (prefix, pool) in [("", { _ in .default }), ("pools/:pool", Self.poolName)] as [(RouterPath, @Sendable (Context) throws -> PoolName)] {
            self.addAdminRoutes(to: router.group(prefix).add(middleware: KeyAuthMiddleware(keys: self.keys, required: .admin)), pool: pool)
            hot.append(self.addClientRoutes(to: router.group(prefix).add(middleware: client), pool: pool))
        }
        self.addPoolRoutes(to: router)
        return HotRoutes(middlewares: middlewares + [client], defaultPool: hot[0], namedPool: hot[1])
    }

    /// Generate, batch, metadata, delete, stats.
    private func addAdminRoutes(to group: RouterGroup<Context>, pool: @escaping @Sendable (Context) throws -> PoolName) {
        group.post("tokens") { request, context in
            let (name, key) = try (pool(context), Self.idempotencyKey(request))
            let metadata = try RequestBodies.generateOne(await RequestBodies.json(request, maxSize: self.maxBodySize))
            return try await self.pool.generate(count: 1, metadata: metadata, in: name, idempotencyKey: key)[0].json(status: .created)
        }
        group.post("tokens/batch") { request, context in
            let (name, key) = try (pool(context), Self.idempotencyKey(request))
            let (count, metadata) = try RequestBodies.batch(await RequestBodies.json(request, maxSize: self.maxBodySize))
            return try await self.pool.generate(count: count, metadata: metadata, in: name, idempotencyKey: key).json(status: .created)
        }
        group.patch("tokens/:token") { request, context in
            let (name, token) = try (pool(context), Self.token(context))
            let metadata = try RequestBodies.patch(await RequestBodies.json(request, maxSize: self.maxBodySize))
            return try await self.pool.setMetadata(metadata, of: token, in: name).json()
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

    /// Assign, unblock, keep-alive, inspect, list; returns the first three's handlers.
    private func addClientRoutes(
        to group: RouterGroup<Context>,
        pool: @escaping @Sendable (Context) throws -> PoolName
    ) -> HotRoutes<Context>.Handlers {
        let assign: HotRoutes<Context>.Handler = { request, context in
            let (name, key, wait) = try (pool(context), Self.idempotencyKey(request), self.wait(request))
            let holder = try RequestBodies.holder(await RequestBodies.json(request, maxSize: self.maxBodySize))
            guard let wait else {
                return try await self.pool.assign(in: name, idempotencyKey: key, holder: holder).json()
            }
            switch try await self.pool.startAssign(in: name, idempotencyKey: key, holder: holder, wait: wait) {
            case .assigned(let record):
                return record.json()
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
        let unblock: HotRoutes<Context>.Handler = { request, context in
            let (name, token, lease) = try (pool(context), Self.token(context), Self.lease(request))
            return try await self.pool.unblock(token, lease: lease, in: name).json()
        }
        let keepAlive: HotRoutes<Context>.Handler = { request, context in
            let (name, token, lease) = try (pool(context), Self.token(context), Self.lease(request))
            return try await self.pool.keepAlive(token, lease: lease, in: name).json()
        }
        group.post("tokens/assign", use: assign)
        group.post("tokens/:token/unblock", use: unblock)
        group.post("tokens/:token/keep-alive", use: keepAlive)
        group.get("tokens/:token") { _, context in
            let (name, token) = try (pool(context), Self.token(context))
            return try await self.pool.inspect(token, in: name).json()
        }
        group.get("tokens") { request, context in
            let name = try pool(context)
            let state = request.uri.queryParameters.get("state") ?? TokenListing.all.rawValue
            guard let listing = TokenListing(rawValue: state) else {
                throw ProblemDetails.badRequest("state must be free, assigned or all, not '\(state.prefix(32))'")
            }
            let (limit, cursor) = try Self.page(request)
            return try await self.pool.tokens(listing, in: name, limit: limit, after: cursor).json()
        }
        return HotRoutes.Handlers(assign: assign, unblock: unblock, keepAlive: keepAlive)
    }

    /// `/pools` and `/pools/{pool}`: list and read (client key), settings and delete (admin key).
    private func addPoolRoutes(to router: Router<Context>) {
        let client = router.group("pools").add(middleware: KeyAuthMiddleware(keys: self.keys, required: .client))
        client.get { request, _ in
            let (limit, cursor) = try Self.page(request)
            return try await self.pool.pools(limit: limit, after: cursor).json()
        }
        client.get(":pool") { _, context in
            let name = try Self.poolName(context)
            guard let info = try await self.pool.info(of: name) else { throw TokenPoolError.poolNotFound(name) }
            return info.json(status: .ok, detailed: true)
        }
        let admin = router.group("pools").add(middleware: KeyAuthMiddleware(keys: self.keys, required: .admin))
        admin.put(":pool") { request, context in
            let name = try Self.poolName(context)
            let (leaseTTL, keepAliveTTL) = try RequestBodies.poolSettings(await RequestBodies.json(request, maxSize: self.maxBodySize))
            return try await self.pool.configure(name, leaseTTL: leaseTTL, keepAliveTTL: keepAliveTTL).json(status: .ok, detailed: true)
        }
        admin.delete(":pool") { _, context in
            let name = try Self.poolName(context)
            guard try await self.pool.deletePool(name) else { throw TokenPoolError.poolNotFound(name) }
            return Response(status: .noContent)
        }
    }

    /// `?limit=L&cursor=C`: L from 1 to ``TokenPool/maxPageSize`` (default 100), C a page's `next`.
    private static func page(_ request: Request) throws -> (limit: Int, cursor: String?) {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query.get("limit") {
            guard let number = Int(text), (1...TokenPool.maxPageSize).contains(number) else {
                throw ProblemDetails.badRequest("limit must be a whole number from 1 to \(TokenPool.maxPageSize), not '\(text.prefix(32))'")
            }
            limit = number
        }
        return (limit, query.get("cursor"))
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
