import AsyncHTTPClient
import Foundation
import TokenPoolClient

/// The calls the workers make through ``TokenPoolClient``, each recorded with its invocation
/// and completion times.
struct API: Sendable {
    let servers: [TokenPoolClient]
    let pool: String
    let recorder: Recorder
    /// How long an assign waits for a token when none is free (zero: it does not).
    let wait: Duration
    private let next = Counter()

    init(client: HTTPClient, servers: [String], pool: String, wait: Duration = .zero, recorder: Recorder) {
        self.servers = servers.map { TokenPoolClient(baseURL: $0, timeout: .seconds(3), httpClient: client) }
        self.pool = pool
        self.wait = wait
        self.recorder = recorder
    }

    /// What one call answered: its status (0 when no answer came) and what it said.
    struct Answer {
        var status: Int
        /// The problem's slug of an error answer (`wait-interrupted`, `redis-unavailable`...).
        var problem: String?
        var info: TokenInfo?
        var tokens: [TokenInfo]?
        var stats: PoolStats?
        var queue: WaiterPage?
    }

    /// Runs `call` on the next server (round robin); `success` is the status a success answers.
    private func call(_ success: Int, _ call: (TokenPoolClient) async throws(TokenPoolClientError) -> Answer) async -> (Int, Answer) {
        let index = self.next.next() % self.servers.count
        do {
            var answer = try await call(self.servers[index])
            answer.status = success
            return (index, answer)
        } catch {
            return (index, Answer(status: error.status, problem: error.problem.map { String($0.slug) }))
        }
    }

    func record(
        _ worker: Int, _ op: String, _ server: Int, _ invoked: Int64, _ answer: Answer, token: String? = nil, lease: Int64? = nil, stale: Bool? = nil,
        key: String? = nil, request: (count: Int, priority: Int, holder: String?)? = nil
    ) async {
        var answer = answer
        if op == "assign", answer.info == nil, let first = answer.tokens?.first {
            // Several at once: the first stands for the op; `tokens` and `leases` list them all.
            answer.info = first
        }
        var operation = Operation(
            worker: worker, op: op, server: server, token: answer.info?.token ?? token, lease: answer.info?.lease ?? lease,
            invoked: invoked, completed: now(), status: answer.status,
            expiresAt: answer.info?.expiresAtDate.map(milliseconds), leaseExpiresAt: answer.info?.leaseExpiresAtDate.map(milliseconds),
            availableAt: answer.info?.availableAtDate.map(milliseconds), state: op == "assign" ? nil : answer.info?.state.rawValue, stale: stale
        )
        operation.problem = answer.problem
        operation.key = key
        if op == "assign", self.wait > .zero {
            operation.wait = Int64(self.wait.components.seconds * 1000 + self.wait.components.attoseconds / 1_000_000_000_000_000)
        }
        if let stats = answer.stats {
            operation.stats = [
                "total": stats.total, "free": stats.free, "assigned": stats.assigned, "cooling": stats.cooling, "disabled": stats.disabled,
                "reserved": stats.reserved, "waiting": stats.waiting,
            ]
        }
        if let request {
            (operation.count, operation.priority, operation.holder) = (request.count, request.priority, request.holder)
        }
        if let queue = answer.queue {
            operation.queue = queue.waiters.map {
                QueuedWaiter(holder: $0.holder, count: $0.count, priority: $0.priority, since: $0.sinceDate.map(milliseconds) ?? 0)
            }
            operation.setAside = queue.setAside
        }
        if let list = answer.tokens {
            operation.tokens = list.map(\.token)
            if op == "assign" { operation.leases = list.compactMap(\.lease) }
        } else if op == "generate", let token = answer.info?.token {
            operation.tokens = [token]
        }
        await self.recorder.add(operation)
    }

    /// Gives the pool a rate limit and a cap per holder before the load starts, and records them for the checker.
    func configure(rateLimit limit: RateLimit?, maxPerHolder: Int?) async throws {
        let invoked = now()
        _ = try await self.servers[0].configure(self.pool, leaseTTL: nil, keepAliveTTL: nil, rateLimit: limit, maxPerHolder: maxPerHolder)
        var operation = Operation(worker: -1, op: "settings", server: 0, invoked: invoked, completed: now(), status: 200)
        operation.rateLimit = limit.map { ["assigns": Int64($0.assigns), "per": Int64(($0.per * 1000).rounded())] }
        operation.maxPerHolder = maxPerHolder
        await self.recorder.add(operation)
    }

    func generateBatch(worker: Int, count: Int) async throws -> [String] {
        let invoked = now()
        let (server, answer) = await self.call(201) { client throws(TokenPoolClientError) in
            Answer(status: 201, tokens: try await client.generate(count: count, in: self.pool))
        }
        await self.record(worker, "batch", server, invoked, answer)
        return answer.tokens?.map(\.token) ?? []
    }

    /// Assigns; an answer lost on the way is asked again of the next server with the same key.
    func assign(worker: Int, attempt: String) async -> (token: String, lease: Int64)? {
        for _ in 0..<3 {
            let invoked = now()
            let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
                Answer(status: 200, info: try await client.assign(in: self.pool, idempotencyKey: attempt, wait: self.wait))
            }
            await self.record(worker, "assign", server, invoked, answer, key: attempt)
            if let info = answer.info, let lease = info.lease {
                return (info.token, lease)
            }
            if answer.status != 0 && answer.status != 503 { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Assigns `count` tokens at once (all or none) as `holder`, waiting (with --wait) at
    /// `priority`; an answer lost on the way is asked again of the next server with the same key.
    func assign(worker: Int, attempt: String, count: Int, priority: Int, holder: String) async -> [(token: String, lease: Int64)]? {
        for _ in 0..<3 {
            let invoked = now()
            let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
                let tokens = try await client.assign(
                    count: count, priority: priority, wait: self.wait, in: self.pool, idempotencyKey: attempt, holder: holder
                )
                return Answer(status: 200, tokens: tokens)
            }
            await self.record(worker, "assign", server, invoked, answer, key: attempt, request: (count, priority, holder))
            if let tokens = answer.tokens, answer.status == 200 {
                return tokens.compactMap { info in info.lease.map { (info.token, $0) } }
            }
            if answer.status != 0 && answer.status != 503 { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Reads the pool's queue every 50 ms until `end`.
    func watchQueue(until end: Date) async {
        while Date() < end {
            let invoked = now()
            let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
                Answer(status: 200, queue: try await client.waiters(of: self.pool, limit: 1000))
            }
            await self.record(-2, "waiters", server, invoked, answer)
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// unblock (with `cooldown`, a rest before anyone gets it again), keep-alive or disable of a held lease.
    @discardableResult
    func leaseCall(_ op: String, worker: Int, token: String, lease: Int64, stale: Bool = false, cooldown: Duration? = nil) async -> Int {
        let invoked = now()
        let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
            let info =
                switch op {
                case "unblock": try await client.unblock(token, lease: lease, cooldown: cooldown, in: self.pool)
                case "disable": try await client.disable(token, lease: lease, reason: "load", in: self.pool)
                default: try await client.keepAlive(token, lease: lease, in: self.pool)
                }
            return Answer(status: 200, info: info)
        }
        await self.record(worker, op, server, invoked, answer, token: token, lease: lease, stale: stale)
        return answer.status
    }

    /// Puts a disabled token back; asked again (of the next server) while no answer comes.
    func enable(worker: Int, token: String) async {
        for _ in 0..<5 {
            let invoked = now()
            let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
                Answer(status: 200, info: try await client.enable(token, in: self.pool))
            }
            await self.record(worker, "enable", server, invoked, answer, token: token)
            if answer.status != 0 && answer.status != 503 { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    func generate(worker: Int) async -> String? {
        let invoked = now()
        let (server, answer) = await self.call(201) { client throws(TokenPoolClientError) in
            Answer(status: 201, info: try await client.generate(count: 1, in: self.pool).first)
        }
        await self.record(worker, "generate", server, invoked, answer)
        return answer.info?.token
    }

    func delete(worker: Int, token: String) async {
        let invoked = now()
        let (server, answer) = await self.call(204) { client throws(TokenPoolClientError) in
            try await client.delete(token, in: self.pool)
            return Answer(status: 204)
        }
        await self.record(worker, "delete", server, invoked, answer, token: token)
    }

    func inspect(worker: Int, token: String) async {
        let invoked = now()
        let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
            Answer(status: 200, info: try await client.inspect(token, in: self.pool))
        }
        await self.record(worker, "inspect", server, invoked, answer, token: token)
    }

    func stats(worker: Int) async {
        let invoked = now()
        let (server, answer) = await self.call(200) { client throws(TokenPoolClientError) in
            Answer(status: 200, stats: try await client.stats(of: self.pool))
        }
        await self.record(worker, "stats", server, invoked, answer)
    }
}

final class Counter: Sendable {
    private let value = ManagedCounter()
    func next() -> Int { self.value.increment() }
}

/// A lock-protected integer (the load client's only shared mutable state outside the recorder).
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.value &+= 1
        return self.value
    }
}

func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
