import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import RedisNIO
import ServiceLifecycle

/// How a waiting assign starts: with its tokens at once, or with a place in the pool's queue.
public enum WaitingAssign: Sendable {
    /// As many tokens as asked for (one, unless a count was given).
    case assigned([TokenRecord])
    case queued(QueuedAssign)
}

/// A place in a pool's queue. ``tokens()`` waits for the tokens handed to it.
public struct QueuedAssign: Sendable {
    let pool: TokenPool
    let name: PoolName
    let id: String
    let request: AssignRequest
    let deadline: NIODeadline
    let started: ContinuousClock.Instant

    /// Waits for the tokens that the queue hands this place: higher priority first, first come
    /// first served within one; a place that wants several sets aside what is freed while it is
    /// at the head, and gets them all at once.
    ///
    /// A place that vanishes while time is left — Redis lost it (restarted, or out of reach
    /// longer than the presence window), or the token handed to it was deleted or reclaimed
    /// before the pickup — queues again, at the back, for the time left.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when the wait ran out first,
    ///   ``TokenPoolError/waitInterrupted(_:)`` when a retry with the same Idempotency-Key took
    ///   the place or the server is shutting down, `CancellationError` when the task is
    ///   cancelled or `cancellation` is: the place is given up and a token already handed to it
    ///   goes on.
    public func tokens(cancellation: WaitCancellation? = nil) async throws -> [TokenRecord] {
        var place = self
        while true {
            switch try await place.settle(place.waitForEvent(cancellation)) {
            case .assigned(let records):
                return records
            case .vanished:
                switch try await place.queueAgain() {
                case .assigned(let records): return records
                case .queued(let next): place = next
                }
            }
        }
    }

    /// ``tokens(cancellation:)`` with no task waiting: `done` gets the tokens or the error, once,
    /// from a task that runs only after the wait (an HTTP server can park the request on its
    /// connection instead of holding a task and its frames for as long as it waits).
    /// `cancellation` is the only way to end it early; a server shutting down calls
    /// ``TokenPool/interruptWaits()``.
    public func park(cancellation: WaitCancellation, done: @escaping @Sendable (Result<[TokenRecord], any Error>) async -> Void) {
        let room = self.pool.waitingRoom
        cancellation.watch(self.id, in: room)
        room.park(self.id, until: self.deadline) { event in
            Task {
                do {
                    switch try await self.settle(event) {
                    case .assigned(let records):
                        await done(.success(records))
                    case .vanished:
                        switch try await self.queueAgain() {
                        case .assigned(let records): await done(.success(records))
                        case .queued(let next): next.park(cancellation: cancellation, done: done)
                        }
                    }
                } catch {
                    await done(.failure(error))
                }
            }
        }
    }

    private enum Outcome {
        case assigned([TokenRecord])
        /// The place or the token handed to it is gone while time may be left.
        case vanished
    }

    private func waitForEvent(_ cancellation: WaitCancellation?) async -> WaitingRoom.Event {
        let room = self.pool.waitingRoom
        cancellation?.watch(self.id, in: room)
        // A server shutting down (SIGTERM) answers its waiters at once instead of draining for
        // up to --max-wait: they can ask another replica.
        return await withGracefulShutdownHandler {
            await room.wait(self.id, until: self.deadline)
        } onGracefulShutdown: {
            room.deliver(.shuttingDown, to: self.id)
        }
    }

    /// What the wait's first event comes to: the tokens handed over (taken in Redis), a place
    /// to queue again, or the error to answer.
    private func settle(_ event: WaitingRoom.Event) async throws -> Outcome {
        let room = self.pool.waitingRoom
        let record = self.request.idempotencyKey.map { self.pool.keys(of: self.name).idempotencyRecord("assign", $0) }
        switch event {
        case .cancelled:
            room.depart(WaitingRoom.Departure(pool: self.name, id: self.id, idempotencyRecord: record))
            self.pool.metrics.waited(since: self.started, outcome: .cancelled)
            throw CancellationError()
        case .takenOver:
            room.remove(self.id)
            self.pool.metrics.waited(since: self.started, outcome: .interrupted)
            throw TokenPoolError.waitInterrupted(self.name, because: "a request with the same Idempotency-Key took its place")
        case .lost:
            room.remove(self.id)
            return .vanished
        case .handed, .timedOut, .shuttingDown:
            // Even when the wait ran out, a token handed to it in the last instant is taken.
            defer { room.remove(self.id) }
            switch try await room.leave(self.id, .take, in: self.name, idempotencyRecord: record, holder: self.request.holder) {
            case .taken(let records):
                self.pool.metrics.assignments.increment(by: records.count)
                self.pool.metrics.waited(since: self.started, outcome: .assigned)
                return .assigned(records)
            case .gone:
                if case .shuttingDown = event {
                    self.pool.metrics.waited(since: self.started, outcome: .interrupted)
                    throw TokenPoolError.waitInterrupted(self.name, because: "this server is shutting down")
                }
                // Timed out with nothing handed (``queueAgain()`` finds no time left: 404), or
                // the token handed over was deleted or went on before the pickup.
                return .vanished
            }
        }
    }

    /// A place that vanished queues again, at the back, for the time left (404 when none is).
    private func queueAgain() async throws -> WaitingAssign {
        let left = TimeAmount.nanoseconds((self.deadline - .now()).nanoseconds)
        guard left > .milliseconds(1) else {
            self.pool.metrics.waited(since: self.started, outcome: .timedOut)
            throw TokenPoolError.noFreeToken(self.name)
        }
        self.pool.waitingRoom.logger.debug("A waiting assign queues again", metadata: ["tokenpool.pool": "\(self.name)"])
        switch try await self.pool.startAssign(self.request, in: self.name, wait: .nanoseconds(left.nanoseconds)) {
        case .assigned(let records):
            self.pool.metrics.waited(since: self.started, outcome: .assigned)
            return .assigned(records)
        case .queued(let next):
            return .queued(QueuedAssign(pool: self.pool, name: self.name, id: next.id, request: self.request, deadline: self.deadline, started: self.started))
        }
    }
}

/// Cancels one waiting assign from outside its task, as task cancellation would: an HTTP
/// server calls ``cancel()`` when the waiting client goes away.
///
/// It costs the wait no task of its own (a task group racing the wait against the client cost
/// two child tasks and their frames a waiter); calls after the wait ended do nothing.
public final class WaitCancellation: Sendable {
    private struct State {
        var cancelled = false
        /// The place waiting now (a place that vanished queues again under a new id).
        var place: (room: WaitingRoom, id: String)?
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Ends the wait with `CancellationError`; the place is given up.
    public func cancel() {
        let place = self.state.withLockedValue { state -> (room: WaitingRoom, id: String)? in
            state.cancelled = true
            return state.place
        }
        place.map { _ = $0.room.deliver(.cancelled, to: $0.id) }
    }

    /// The wait goes on as place `id`: cancelled at once if ``cancel()`` came first.
    func watch(_ id: String, in room: WaitingRoom) {
        let cancelled = self.state.withLockedValue { state -> Bool in
            state.place = (room, id)
            return state.cancelled
        }
        if cancelled { room.deliver(.cancelled, to: id) }
    }
}

/// What an assign asks for beside its pool and its wait.
public struct AssignRequest: Sendable, Hashable {
    /// How many tokens, all at once (1 ... ``TokenPool/maxAssignCount``).
    public var count: Int
    /// Served before waiters of lower priority (``TokenPool/priorities``).
    public var priority: Int
    /// Who holds the tokens (checked by the caller); counted against the pool's `maxPerHolder`.
    public var holder: String?
    /// A retry with the same key gets the same tokens, or the same place in the queue.
    public var idempotencyKey: String?

    public init(count: Int = 1, priority: Int = 0, holder: String? = nil, idempotencyKey: String? = nil) {
        precondition((1...TokenPool.maxAssignCount).contains(count), "count out of range")
        precondition(TokenPool.priorities.contains(priority), "priority out of range")
        (self.count, self.priority, self.holder, self.idempotencyKey) = (count, priority, holder, idempotencyKey)
    }
}

extension TokenPool {
    /// Assigns a random free token, or waits up to `wait` for the next one freed, in the order
    /// Redis saw the waiters join across every replica. `wait` zero is ``assign(in:idempotencyKey:holder:)``.
    ///
    /// With an `idempotencyKey`, a retry picks up the token handed to the earlier call or takes
    /// its place in the queue: never two places, never two tokens.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when none came in time; see ``QueuedAssign/tokens()``.
    public func assign(in pool: PoolName = .default, idempotencyKey: String? = nil, holder: String? = nil, wait: Duration) async throws -> TokenRecord {
        try await self.assign(AssignRequest(holder: holder, idempotencyKey: idempotencyKey), in: pool, wait: wait)[0]
    }

    /// Assigns `request.count` tokens at once, or waits up to `wait` for them: in the queue, a
    /// higher `priority` is served first, and a request for several at the head of the queue has
    /// every token freed set aside for it until it has them all.
    public func assign(_ request: AssignRequest, in pool: PoolName = .default, wait: Duration) async throws -> [TokenRecord] {
        switch try await self.startAssign(request, in: pool, wait: wait) {
        case .assigned(let records): return records
        case .queued(let place): return try await place.tokens()
        }
    }

    /// Answers every waiting assign of this replica now, as a server shutting down does: a
    /// token already handed over is taken, else 503 `wait-interrupted`, so the client can ask
    /// another replica. (A task's own wait hears the graceful shutdown itself; a parked one,
    /// ``QueuedAssign/park(cancellation:done:)``, has no task to hear it.)
    public func interruptWaits() {
        self.waitingRoom.interruptAll()
    }

    /// ``startAssign(_:in:wait:)`` of one token.
    public func startAssign(
        in pool: PoolName = .default, idempotencyKey: String? = nil, holder: String? = nil, wait: Duration
    ) async throws -> WaitingAssign {
        try await self.startAssign(AssignRequest(holder: holder, idempotencyKey: idempotencyKey), in: pool, wait: wait)
    }

    /// ``runAssign(in:idempotencyKey:holder:count:priority:waiter:)`` as a function of its own,
    /// for ``startAssign(_:in:wait:)`` (below): inlined there, its locals would widen the frame that a
    /// waiting request keeps for as long as it waits. The plain assign inlines it: one frame
    /// fewer on the hot path, whose slabs every client connection keeps (docs/scaling.md).
    @inline(never)
    private func runAssignApart(
        in pool: PoolName, idempotencyKey: String?, holder: String?, count: Int, priority: Int, waiter: (id: String, wait: Duration)?
    ) async throws -> AssignOutcome {
        try await self.runAssign(in: pool, idempotencyKey: idempotencyKey, holder: holder, count: count, priority: priority, waiter: waiter)
    }

    /// The first half of ``assign(_:in:wait:)``: the tokens now, or a place in the queue to wait
    /// on (an HTTP server can watch its client while it waits).
    public func startAssign(_ request: AssignRequest, in pool: PoolName = .default, wait: Duration) async throws -> WaitingAssign {
        guard wait > .zero else {
            switch try await self.runAssignApart(
                in: pool, idempotencyKey: request.idempotencyKey, holder: request.holder, count: request.count, priority: request.priority, waiter: nil
            ) {
            case .assigned(let record): return .assigned([record])
            case .assignedMany(let records): return .assigned(records)
            case .empty: throw TokenPoolError.noFreeToken(pool)
            case .queued: throw RedisClientError.unexpectedReply("assign: queued without a waiter")
            }
        }
        let started = ContinuousClock.now
        let deadline = NIODeadline.now() + TimeAmount(wait)
        let id = self.waitingRoom.register(in: pool)
        let outcome: AssignOutcome
        do {
            outcome = try await self.runAssignApart(
                in: pool, idempotencyKey: request.idempotencyKey, holder: request.holder, count: request.count, priority: request.priority,
                waiter: (id, wait)
            )
        } catch {
            // It may have joined before the answer was lost: its `until` lapses within the presence window.
            self.waitingRoom.remove(id)
            throw error
        }
        switch outcome {
        case .assigned(let record):
            self.waitingRoom.remove(id)
            return .assigned([record])
        case .assignedMany(let records):
            self.waitingRoom.remove(id)
            return .assigned(records)
        case .queued(let waitUntil, _):
            self.waitingRoom.queued(id, until: waitUntil)
            return .queued(QueuedAssign(pool: self, name: pool, id: id, request: request, deadline: deadline, started: started))
        case .empty:
            self.waitingRoom.remove(id)
            throw RedisClientError.unexpectedReply("assign: a waiting assign neither assigned nor queued")
        }
    }
}

/// The Redis client and the waiting room of one ``TokenPool``, run together.
struct PoolConnections: Service {
    let client: RedisClient
    let waitingRoom: WaitingRoom

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.client.run() }
            group.addTask { try await self.waitingRoom.run() }
        }
    }
}

extension PoolMetrics {
    enum WaitOutcome: String, CaseIterable {
        case assigned, timedOut = "timed_out", interrupted, cancelled
    }

    /// Time spent in the queue, by how the wait ended.
    func waited(since start: ContinuousClock.Instant, outcome: WaitOutcome) {
        self.waitDurations[outcome]?.record(duration: ContinuousClock.now - start)
    }
}
