import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import TokenPoolClient

/// `tokenpool-load`: many concurrent workers against one or more replicas, every operation
/// written to a history (JSON lines) for `Tests/load/check_history.py` to judge.
///
/// Workers by role (worker index modulo 8): three hold tokens properly (assign, hold a little,
/// maybe keep-alive, unblock with the lease), one takes two at once under its own holder name
/// and a random priority (and gives both back), one gives its tokens back to rest (a cooldown) or
/// disables and then enables them, one abandons what it assigns (its leases lapse),
/// one reuses a lease after unblocking it (a stale holder), one generates and deletes tokens.
/// Requests go round-robin over the servers; an assign whose answer is lost is retried on the
/// next server with the same Idempotency-Key.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenpool-load", abstract: "Drive TokenPool replicas and record a history.")

    @Option(name: .customLong("server"), help: "A replica's base URL; repeat for several.")
    var servers: [String]

    @Option(help: "Pool to use.") var pool = "load"
    @Option(help: "Concurrent workers.") var workers = 24
    @Option(help: "Seconds to run.") var duration = 10.0
    @Option(help: "Tokens generated before the workers start.") var tokens = 40
    @Option(help: "Where the history goes (JSON lines).") var history = "history.jsonl"
    @Option(help: "Seconds to wait after the workers stop before the final reads (>= lease TTL + reap interval).") var settle = 2.0
    @Option(help: "Seconds an assign waits for a token when none is free (0: no waiting; below the 3 s read timeout).") var wait = 0.0
    @Option(help: "mixed: the roles below; holders: every worker assigns, holds --hold-ms, unblocks.") var roles = "mixed"
    @Option(help: "With --roles holders: how long each holds a token, in ms.") var holdMs = 50
    @Option(help: "R/W: give the pool a rate limit of R assignments of a token in any W seconds first (e.g. 3/0.5).") var rateLimit: String?
    @Option(help: "Give the pool this maxPerHolder first (every worker assigns as holder wID).") var maxPerHolder: Int?
    @Option(help: "With --roles holders: each assign takes 1 to N tokens at once, with a random priority (-10, 0 or 10).") var take = 1
    @Flag(help: "Read the pool's queue (GET /waiters) every 50 ms into the history, for the checker's priority promise.") var watchQueue = false

    func run() async throws {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(1), read: .seconds(3)))
        // Every worker may wait at once: a connection each, not AsyncHTTPClient's 8 per host.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, self.workers))
        // A replica that is down is a failed call (status 0) at once, not a connection retried
        // with backoff: AsyncHTTPClient counts a connection backing off as one being opened, so
        // after a replica's restart it kept one connection to it for up to a minute, and the
        // workers' calls queued in this client for it. The fault checks then blamed the
        // service for that queueing (a 503 "taking" 1.85 s of which 0.85 s was spent here).
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let recorder = Recorder()
        let wait = Duration.milliseconds(Int64((self.wait * 1000).rounded()))
        let api = API(client: client, servers: self.servers, pool: self.pool, wait: wait, recorder: recorder)
        let holders = self.roles == "holders"
        let hold = Duration.milliseconds(self.holdMs)
        do {
            var limit: RateLimit?
            if let rateLimit = self.rateLimit {
                let parts = rateLimit.split(separator: "/")
                guard parts.count == 2, let assigns = Int(parts[0]), let per = Double(parts[1]) else {
                    throw ValidationError("--rate-limit is R/W, like 3/0.5")
                }
                limit = RateLimit(assigns: assigns, per: per)
            }
            if limit != nil || self.maxPerHolder != nil {
                try await api.configure(rateLimit: limit, maxPerHolder: self.maxPerHolder)
            }
            var generated: [String] = []
            while generated.count < self.tokens {
                generated += try await api.generateBatch(worker: -1, count: self.tokens - generated.count)
            }
            let end = Date().addingTimeInterval(self.duration)
            let take = self.take
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<self.workers {
                    group.addTask {
                        let worker = Worker(id: worker, api: api, end: end)
                        try await holders ? worker.hold(for: hold, take: take) : worker.run()
                    }
                }
                if self.watchQueue {
                    group.addTask { await api.watchQueue(until: end) }
                }
                try await group.waitForAll()
            }
            try await Task.sleep(for: .seconds(self.settle))
            // Quiet point: every generated token's fate, and the counts.
            for token in await recorder.generatedTokens() {
                await api.inspect(worker: -1, token: token)
            }
            await api.stats(worker: -1)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        let count = try await recorder.write(to: self.history)
        print("tokenpool-load: \(count) operations written to \(self.history)")
    }
}

/// One operation as the client saw it. Times are ms since the epoch on this machine's clock.
struct Operation: Codable, Sendable {
    var worker: Int
    var op: String
    var server: Int
    var token: String?
    var lease: Int64?
    var invoked: Int64
    var completed: Int64
    /// HTTP status, or 0 when no answer came (connection refused, reset, timeout).
    var status: Int
    var expiresAt: Int64?
    var leaseExpiresAt: Int64?
    /// When a cooling (or quarantined) token becomes assignable again, as the answer said.
    var availableAt: Int64?
    /// The token's state as the answer said (unblock, disable, enable).
    var state: String?
    /// An assign's Idempotency-Key: the attempts of one assign share it.
    var key: String?
    /// `settings`: the pool's rate limit, `{"assigns": R, "per": W ms}`.
    var rateLimit: [String: Int64]?
    var stale: Bool?
    var stats: [String: Int]?
    var tokens: [String]?
    /// An assign of several: each token's lease, in the order of `tokens`.
    var leases: [Int64]?
    /// An assign: how many tokens it asked for, its priority and holder (when not 1, 0, none).
    var count: Int?
    var priority: Int?
    var holder: String?
    /// `waiters`: the queue as listed, in the order it will be served, and the tokens set aside for its head.
    var queue: [QueuedWaiter]?
    var setAside: [String]?
    /// `settings`: the pool's maxPerHolder.
    var maxPerHolder: Int?
    /// For a waiting assign: how long it asked to wait, in ms.
    var wait: Int64?
    /// An error answer's problem slug.
    var problem: String?
}

/// One waiter of a `waiters` read: `since` in ms since the epoch (Redis's clock).
struct QueuedWaiter: Codable, Sendable {
    var holder: String?
    var count: Int
    var priority: Int
    var since: Int64
}

actor Recorder {
    private var operations: [Operation] = []

    func add(_ operation: Operation) { self.operations.append(operation) }

    func generatedTokens() -> [String] {
        self.operations.filter { ($0.op == "generate" || $0.op == "batch") && $0.status == 201 }.flatMap { $0.tokens ?? [] }
    }

    func write(to path: String) throws -> Int {
        let encoder = JSONEncoder()
        var text = ""
        for operation in self.operations {
            text += String(decoding: try encoder.encode(operation), as: UTF8.self) + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return self.operations.count
    }
}
