import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import RedisNIO
import ServiceLifecycle

/// This replica's waiting assigns: each waits in-process for the token that a script hands it
/// in Redis, first come first served across every replica.
///
/// A waiter's id is `CHANNEL#N`, where CHANNEL is this replica's own Redis channel: the script
/// that frees a token for the queue's head publishes the hand-over there, and ``run()`` wakes
/// the waiter at once. On Redis Cluster the replica has a channel per pool,
/// `PREFIX:{pool}:handover:REPLICA`, in the pool's slot: the script `SPUBLISH`es to it, so the
/// message goes to that slot's shard only, and the replica `SSUBSCRIBE`s there for as long as
/// the pool has had waiters here in the last half minute (following the slot when it moves).
/// Every ``TokenPoolSettings/waitRenewInterval`` the room also renews its waiters in Redis
/// (renew.lua: one vouching a pool for all of them, at most 500 waiters a call), which keeps
/// them in the queue (a replica that stops renewing loses its waiters within
/// ``TokenPoolSettings/waitPresence``) and reports hand-overs a lost message did not: a message
/// lost in a blip costs a renewal, never a lease.
final class WaitingRoom: Service, Sendable {
    /// What ends a wait in-process; the first one to arrive wins.
    enum Event: Sendable {
        case handed
        case timedOut
        /// Redis no longer has the waiter: its replica's vouching lapsed, or Redis lost it.
        case lost
        /// A retry with the waiter's Idempotency-Key took its place.
        case takenOver
        case cancelled
        /// The server is shutting down: answer now, so the client can ask another replica.
        case shuttingDown
    }

    private struct Waiter {
        let pool: PoolName
        /// Its wait's end by Redis's clock (ms), once assign.lua has queued it.
        var waitUntil: Int64?
        /// Takes its event: a waiting task's continuation, or a parked request's callback.
        var resume: (@Sendable (Event) -> Void)?
        /// Its deadline's callback: no promise or closure a waiter, as `scheduleTask` would allocate.
        var timer: NIOScheduledCallback?
        var event: Event?
    }

    private struct State {
        var waiters: [String: Waiter] = [:]
        var lastNumber: UInt64 = 0
        /// Pools whose renewal is under way: each pool renews on its own, so one pool's trouble
        /// (its master failing over, its slot migrating) never delays another's.
        var renewing: Set<PoolName> = []
        /// Pools whose sharded channel this replica listens to (Redis Cluster only).
        var listening: Set<PoolName> = []
    }

    /// A waiter whose client left, for ``run()`` to take out of the queue (leave.lua 'drop').
    struct Departure: Sendable {
        let pool: PoolName
        let id: String
        let idempotencyRecord: String?
    }

    /// This replica's channel: its hand-overs' on one Redis or under Sentinel.
    let channel: String
    /// On Redis Cluster, a channel per pool (``channel(of:)``) and sharded pub/sub.
    private let sharded: Bool
    private let replica: String
    /// Hand-overs by how this replica heard of them: the message, or a renewal that found one.
    private let heardByMessage = Counter(label: "tokenpool_handovers_total", dimensions: [("heard", "message")])
    private let heardByRenewal = Counter(label: "tokenpool_handovers_total", dimensions: [("heard", "renewal")])
    private let listenRequests: AsyncStream<PoolName>
    private let listenTo: AsyncStream<PoolName>.Continuation
    private let client: RedisClient
    private let settings: TokenPoolSettings
    private let keyring: PoolKeyring
    /// The lease TTL in ms, as leave.lua takes it.
    private let leaseMillis: String
    let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let departures: AsyncStream<Departure>
    private let departing: AsyncStream<Departure>.Continuation

    init(client: RedisClient, settings: TokenPoolSettings, keyring: PoolKeyring, logger: Logger) {
        let replica = (0..<6).map { _ in String(0x100 + Int(UInt8.random(in: 0...255)), radix: 16).dropFirst() }.joined()
        self.replica = replica
        self.channel = "\(settings.keyPrefix):handover:\(replica)"
        self.sharded = client.isCluster
        (self.listenRequests, self.listenTo) = AsyncStream.makeStream(of: PoolName.self)
        self.client = client
        self.settings = settings
        self.keyring = keyring
        self.leaseMillis = String(settings.leaseTTL.milliseconds)
        self.logger = logger
        (self.departures, self.departing) = AsyncStream.makeStream(of: Departure.self)
    }

    /// The channel of this replica's hand-overs in `pool`: on Redis Cluster its own, in the
    /// pool's slot (`PREFIX:{pool}:handover:REPLICA`); else ``channel``.
    func channel(of pool: PoolName) -> String {
        guard self.sharded else { return self.channel }
        return String(self.keyring.keys(of: pool).free.dropLast("free".count)) + "handover:\(self.replica)"
    }

    /// A new waiter in `pool`, known here before assign.lua can hand it anything.
    func register(in pool: PoolName) -> String {
        let channel = self.channel(of: pool)
        let (id, listen) = self.state.withLockedValue { state in
            state.lastNumber += 1
            let id = "\(channel)#\(state.lastNumber)"
            state.waiters[id] = Waiter(pool: pool)
            return (id, self.sharded && state.listening.insert(pool).inserted)
        }
        if listen { self.listenTo.yield(pool) }
        return id
    }

    /// Listens to the pool's sharded channel until cancelled, or until the pool has had no
    /// waiter here for half a minute (the next waiter there starts it again).
    private func listen(to pool: PoolName) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.subscribe(to: self.channel(of: pool), sharded: true, onMessage: self.heard) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(30))
                    let idle = self.state.withLockedValue { state in
                        state.waiters.values.contains { $0.pool == pool } ? false : state.listening.remove(pool) != nil
                    }
                    if idle { return }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// A hand-over message, "ID TOKEN LEASE".
    private func heard(_ message: String) {
        guard let id = message.split(separator: " ", maxSplits: 1).first else { return }
        if self.deliver(.handed, to: String(id)) { self.heardByMessage.increment() }
    }

    /// assign.lua queued the waiter until `waitUntil` (ms, Redis's clock): renew it from now on.
    func queued(_ id: String, until waitUntil: Int64) {
        self.state.withLockedValue { $0.waiters[id]?.waitUntil = waitUntil }
    }

    /// Waits for the first event of waiter `id`: a hand-over, `deadline`, a lost place or the
    /// task's cancellation.
    func wait(_ id: String, until deadline: NIODeadline) async -> Event {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Event, Never>) in
                self.park(id, until: deadline) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            self.deliver(.cancelled, to: id)
        }
    }

    /// Calls `resume` once, with the first event of waiter `id` (at once if it has one): no task
    /// waits. Only ``deliver(_:to:)`` ends it early (a departed client is `.cancelled`).
    func park(_ id: String, until deadline: NIODeadline, resume: @escaping @Sendable (Event) -> Void) {
        let ready = self.state.withLockedValue { state -> Event? in
            guard var waiter = state.waiters[id] else { return .lost }
            if let event = waiter.event { return event }
            do {
                waiter.timer = try self.client.eventLoopGroup.any().scheduleCallback(at: deadline, handler: Deadline(room: self, id: id))
            } catch {
                // The event loops are shutting down: so is the server.
                return .shuttingDown
            }
            waiter.resume = resume
            state.waiters[id] = waiter
            return nil
        }
        if let ready { resume(ready) }
    }

    /// A waiter's deadline: `.timedOut`.
    private struct Deadline: NIOScheduledCallbackHandler, Sendable {
        let room: WaitingRoom
        let id: String

        func handleScheduledCallback(eventLoop: some EventLoop) {
            self.room.deliver(.timedOut, to: self.id)
        }
    }

    /// The waiter is done with; later events for it are ignored.
    func remove(_ id: String) {
        self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.timer?.cancel()
    }

    /// The waiter's client left: ``run()`` takes it out of the queue, and gives on what was handed to it.
    func depart(_ departure: Departure) {
        self.remove(departure.id)
        self.departing.yield(departure)
    }

    /// Whether the event was the waiter's first (later ones are ignored).
    @discardableResult
    func deliver(_ event: Event, to id: String) -> Bool {
        let (first, resume, timer) = self.state.withLockedValue { state -> (Bool, (@Sendable (Event) -> Void)?, NIOScheduledCallback?) in
            guard var waiter = state.waiters[id], waiter.event == nil else { return (false, nil, nil) }
            waiter.event = event
            defer { waiter.resume = nil; waiter.timer = nil; state.waiters[id] = waiter }
            return (true, waiter.resume, waiter.timer)
        }
        timer?.cancel()
        resume?(event)
        return first
    }

    /// Every waiter here gets `.shuttingDown`: answered now, so its client can ask another replica.
    func interruptAll() {
        let ids = self.state.withLockedValue { state in state.waiters.compactMap { $0.value.event == nil ? $0.key : nil } }
        for id in ids { self.deliver(.shuttingDown, to: id) }
    }

    /// Hears hand-overs, renews the waiters and takes departed ones out of the queue, until
    /// cancelled or graceful shutdown.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    guard self.sharded else { return await self.client.subscribe(to: self.channel, onMessage: self.heard) }
                    await withDiscardingTaskGroup { listeners in
                        for await pool in self.listenRequests {
                            listeners.addTask { await self.listen(to: pool) }
                        }
                    }
                }
                group.addTask {
                    await withDiscardingTaskGroup { renewals in
                        while !Task.isCancelled {
                            try? await Task.sleep(for: self.settings.waitRenewInterval)
                            for (pool, waiters) in self.dueForRenewal() {
                                renewals.addTask {
                                    await self.renew(pool, waiters)
                                    self.state.withLockedValue { _ = $0.renewing.remove(pool) }
                                }
                            }
                        }
                    }
                }
                group.addTask {
                    for await departure in self.departures {
                        do {
                            _ = try await self.leave(departure.id, .drop, in: departure.pool, idempotencyRecord: departure.idempotencyRecord)
                        } catch {
                            // Its `until` runs out within the presence window, and any token handed to it with it.
                            self.logger.debug("A departed waiter stays queued until it lapses", metadata: ["tokenpool.pool": "\(departure.pool)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }

    /// leave.lua for waiter `id`: `take` what was handed to it (a whole lease), or `drop` it on.
    func leave(_ id: String, _ mode: LeaveCall.Mode, in pool: PoolName, idempotencyRecord: String?, holder: String? = nil) async throws -> LeaveReply {
        let call = LeaveCall(id: id, mode: mode, leaseTTL: self.leaseMillis, holder: holder, idempotencyRecord: idempotencyRecord)
        return try await self.client.run(call, in: pool, keys: self.keyring.keys(of: pool))
    }

    /// The queued waiters of each pool with waiters here whose last renewal is done; those pools
    /// are marked as being renewed.
    private func dueForRenewal() -> [PoolName: [(PoolName, String, Int64)]] {
        self.state.withLockedValue { state in
            let queued = state.waiters.compactMap { id, waiter in
                state.renewing.contains(waiter.pool) ? nil : waiter.waitUntil.map { (waiter.pool, id, $0) }
            }
            let due = Dictionary(grouping: queued, by: \.0)
            state.renewing.formUnion(due.keys)
            return due
        }
    }

    /// renew.lua for one pool's waiters here, at most 500 a call.
    private func renew(_ pool: PoolName, _ waiters: [(PoolName, String, Int64)]) async {
        let keys = self.keyring.keys(of: pool)
        for start in stride(from: 0, to: waiters.count, by: 500) {
            let chunk = waiters[start..<min(start + 500, waiters.count)]
            let call = RenewCall(presence: self.settings.waitPresence, reclaim: 16, waiters: chunk.map(\.1))
            do {
                for (id, report) in try await self.client.run(call, in: pool, keys: keys).reports {
                    switch report {
                    case .lost: self.deliver(.lost, to: id)
                    case .taken: self.deliver(.takenOver, to: id)
                    case .handed: if self.deliver(.handed, to: id) { self.heardByRenewal.increment() }
                    }
                }
            } catch {
                self.logger.debug("Cannot renew waiters", metadata: ["tokenpool.pool": "\(pool)", "error": "\(error)"])
            }
        }
    }
}
