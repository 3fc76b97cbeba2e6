import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RedisNIO
import RedisTokenPool

/// The handlers of the token and pool routes; ``APIRoutes`` says which route runs which, behind
/// which key. A token route's handler takes the pool its path names (`default` for `/tokens...`).
struct TokenController<Context: CallerRequestContext>: Sendable {
    let pool: TokenPool
    /// Request bodies larger than this are refused with 413.
    let maxBodySize: Int

    // MARK: Admin

    func generate(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let key = try Self.idempotencyKey(request)
        let metadata = try RequestBodies.generateOne(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.generate(count: 1, metadata: metadata, in: pool, idempotencyKey: key, by: context.caller?.name)[0].json(status: .created)
    }

    func batch(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let key = try Self.idempotencyKey(request)
        let (count, metadata) = try RequestBodies.batch(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.generate(count: count, metadata: metadata, in: pool, idempotencyKey: key, by: context.caller?.name).json(status: .created)
    }

    func setMetadata(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let token = try Self.token(context)
        let metadata = try RequestBodies.patch(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.setMetadata(metadata, of: token, in: pool).json()
    }

    func delete(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> Response {
        try await self.pool.delete(Self.token(context), in: pool, by: context.caller?.name)
        return Response(status: .noContent)
    }

    func stats(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        try await self.pool.stats(of: pool).json()
    }

    // MARK: Client

    nonisolated(nonsending) func assign(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let (key, wait) = try (Self.idempotencyKey(request), self.wait(request))
        // The plain assign (the hot case) has neither: no work to look for them.
        let (count, priority) = request.uri.queryParameters.isEmpty ? (nil, 0) : try (Self.count(request), Self.priority(request))
        guard wait != nil || count != nil || priority != 0 else {
            return try await self.assign(request, pool, idempotencyKey: key)
        }
        return try await self.assign(request, context, pool, idempotencyKey: key, wait: wait, count: count, priority: priority)
    }

    // The plain assign and the others are functions of their own, never inlined, and this one
    // awaits nothing else: a connection's task keeps the slabs of its deepest request's async
    // frames for as long as the connection lives, so neither path carries the other's locals
    // (docs/scaling.md).

    /// An assign of one token now, or 404.
    @inline(never)
    private nonisolated(nonsending) func assign(_ request: Request, _ pool: PoolName, idempotencyKey key: String?) async throws -> JSONResponse {
        let holder = try RequestBodies.holder(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.assign(in: pool, idempotencyKey: key, holder: holder).json()
    }

    /// An assign that may wait, or asks for several or with a priority.
    @inline(never)
    private func assign(
        _ request: Request, _ context: Context, _ pool: PoolName, idempotencyKey key: String?, wait: Duration?, count: Int?, priority: Int
    ) async throws -> JSONResponse {
        let holder = try RequestBodies.holder(await RequestBodies.json(request, maxSize: self.maxBodySize))
        let assign = AssignRequest(count: count ?? 1, priority: priority, holder: holder, idempotencyKey: key)
        // `?count=N` answers `{"tokens": [...]}`, even for 1; without it, one TokenInfo as always.
        // Not inlined: the JSON writer's locals would widen this function's async frame.
        @Sendable @inline(never) func answer(_ records: [TokenRecord]) -> JSONResponse {
            count == nil ? records[0].json() : records.json(status: .ok)
        }
        switch try await self.pool.startAssign(assign, in: pool, wait: wait ?? .zero) {
        case .assigned(let records):
            return answer(records)
        case .queued(let place):
            let logger = context.logger
            if let slot = context.parking {
                // Read by ParkingHandler: parked on the connection, answered when the wait ends.
                slot.park(place) { outcome in
                    do {
                        return answer(try outcome.get())
                    } catch {
                        throw Self.waitFailure(error, pool, logger)
                    }
                }
                return JSONResponse(status: .accepted, body: ByteBuffer())
            }
            // A client that goes away leaves the queue at once.
            let cancellation = WaitCancellation()
            let watch = context.watchClient { cancellation.cancel() }
            defer { watch?.end() }
            do {
                return answer(try await place.tokens(cancellation: cancellation))
            } catch {
                throw Self.waitFailure(error, pool, logger)
            }
        }
    }

    /// What a wait that failed answers: a client that went away while it waited gets nginx's
    /// 499 (nobody reads it); anything else as thrown.
    private static func waitFailure(_ error: any Error, _ pool: PoolName, _ logger: Logger) -> any Error {
        guard error is CancellationError else { return error }
        logger.debug("A waiting client left", metadata: ["tokenpool.pool": "\(pool)"])
        return ProblemDetails(.init(code: 499, reasonPhrase: "Client Closed Request"), "client-closed-request", "the client left while it waited")
    }

    func waiters(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let (limit, cursor) = try Self.page(request)
        return try await self.pool.waiters(of: pool, limit: limit, after: cursor).json()
    }

    nonisolated(nonsending) func unblock(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let (token, lease) = try (Self.token(context), Self.lease(request))
        let query = request.uri.queryParameters
        // The plain unblock (the hot case) has neither: no work to look for them.
        guard query.count > (lease == nil ? 0 : 1) else { return try await self.pool.unblock(token, lease: lease, in: pool).json() }
        let (cooldown, outcome) = try (Self.cooldown(request), Self.outcome(request))
        return try await self.pool.unblock(token, lease: lease, cooldown: cooldown, outcome: outcome, in: pool).json()
    }

    func disable(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let (token, lease, key) = try (Self.token(context), Self.lease(request), Self.idempotencyKey(request))
        let reason = try RequestBodies.reason(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.disable(token, lease: lease, reason: reason, in: pool, idempotencyKey: key, by: context.caller?.name).json()
    }

    func enable(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        try await self.pool.enable(Self.token(context), in: pool, by: context.caller?.name).json()
    }

    nonisolated(nonsending) func keepAlive(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let (token, lease) = try (Self.token(context), Self.lease(request))
        return try await self.pool.keepAlive(token, lease: lease, in: pool).json()
    }

    func inspect(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        try await self.pool.inspect(Self.token(context), in: pool).json()
    }

    func list(_ request: Request, _ context: Context, _ pool: PoolName) async throws -> JSONResponse {
        let state = request.uri.queryParameters.get("state") ?? TokenListing.all.rawValue
        guard let listing = TokenListing(rawValue: state) else {
            throw ProblemDetails.badRequest("state must be free, assigned, cooling, disabled or all, not '\(state.prefix(32))'")
        }
        let (limit, cursor) = try Self.page(request)
        return try await self.pool.tokens(listing, in: pool, limit: limit, after: cursor).json()
    }

    // MARK: Pools

    func pools(_ request: Request, _ context: Context) async throws -> JSONResponse {
        let (limit, cursor) = try Self.page(request)
        var page = try await self.pool.pools(limit: limit, after: cursor)
        // A key of some pools sees only those (a page may then hold fewer than `limit`).
        if let scope = context.caller?.pools, scope != .every { page.items.removeAll { !scope.allows($0.pool) } }
        return page.json()
    }

    func poolInfo(_ request: Request, _ context: Context) async throws -> JSONResponse {
        let name = try poolName(context)
        guard let info = try await self.pool.info(of: name) else { throw TokenPoolError.poolNotFound(name) }
        return info.json(status: .ok, detailed: true)
    }

    func configurePool(_ request: Request, _ context: Context) async throws -> JSONResponse {
        let name = try poolName(context)
        let settings = try RequestBodies.poolSettings(await RequestBodies.json(request, maxSize: self.maxBodySize))
        return try await self.pool.configure(name, settings).json(status: .ok, detailed: true)
    }

    func deletePool(_ request: Request, _ context: Context) async throws -> Response {
        let name = try poolName(context)
        guard try await self.pool.deletePool(name) else { throw TokenPoolError.poolNotFound(name) }
        return Response(status: .noContent)
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
        Self.seconds(text).map { .milliseconds(Int64(($0 * 1000).rounded())) }
    }

    /// The seconds of ``duration(_:)``, before they are rounded to ms.
    private static func seconds(_ text: String) -> Double? {
        let allowed = text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || [0x2E, 0x65, 0x45, 0x2B, 0x2D].contains($0) }
        guard allowed, let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds < 1e9 else { return nil }
        return seconds
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

    /// `?cooldown=S`: seconds, more than 0 and at most ``RequestBodies/maxCooldown``, fractions
    /// allowed (ms); or nothing (the pool's cooldown).
    private static func cooldown(_ request: Request) throws -> Duration? {
        guard let text = request.uri.queryParameters.get("cooldown") else { return nil }
        let maximum = RequestBodies.maxCooldown
        guard let seconds = Self.seconds(text), seconds > 0, seconds <= Double(maximum) else {
            throw ProblemDetails.badRequest("cooldown must be a number of seconds more than 0 and at most \(maximum), not '\(text.prefix(32))'")
        }
        // A rest shorter than Redis's clock tick is one tick.
        return .milliseconds(max(1, Int64((seconds * 1000).rounded())))
    }

    /// `?outcome=success|failure`; nothing is success.
    private static func outcome(_ request: Request) throws -> Outcome {
        guard let text = request.uri.queryParameters.get("outcome") else { return .success }
        guard let outcome = Outcome(rawValue: text) else {
            throw ProblemDetails.badRequest("outcome must be success or failure, not '\(text.prefix(32))'")
        }
        return outcome
    }

    /// `?count=N`: how many tokens at once, 1 to ``TokenPool/maxAssignCount``; nothing: one, answered as one TokenInfo.
    private static func count(_ request: Request) throws -> Int? {
        guard let text = request.uri.queryParameters.get("count") else { return nil }
        guard let count = Int(text), (1...TokenPool.maxAssignCount).contains(count) else {
            throw ProblemDetails.badRequest("count must be a whole number from 1 to \(TokenPool.maxAssignCount), not '\(text.prefix(32))'")
        }
        return count
    }

    /// `?priority=P`: a whole number from -100 to 100 (higher is served first); nothing: 0.
    private static func priority(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("priority") else { return 0 }
        guard let priority = Int(text), TokenPool.priorities.contains(priority) else {
            let range = TokenPool.priorities
            throw ProblemDetails.badRequest("priority must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text.prefix(32))'")
        }
        return priority
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
