import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// One Redis node (found directly, or as the master the sentinels name): a small pool of
/// pipelined connections to it, kept open by ``run()``.
///
/// While it runs it keeps `connectionCount` connections open and reconnects with exponential
/// backoff. Every command has one deadline, the command timeout from when it is sent, which
/// covers both the wait for a connection and the wait for the reply. A command goes to the next
/// open connection; with none open it waits in a queue and is handed the first connection that
/// opens, or fails at its deadline with ``RedisClientError/connectionUnavailable(_:)``.
/// ``RedisClient`` uses one as its topology, and ``RedisClusterClient`` one per master.
final class RedisNode: RedisTopology, Sendable {
    let configuration: RedisConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let state: NIOLockedValueBox<State>
    private let metrics = RedisMetrics()
    private let sentinel: RedisSentinel?

    struct State {
        var connections: [RedisConnection?]
        var next = 0
        var scriptHashes: [String: String] = [:]
        /// The library this client loaded (Redis may have lost it since: a restart).
        var library: String?
        /// This Redis runs no functions (before Redis 7, or its ACL forbids `FCALL`): scripts go by `EVALSHA`.
        var noFunctions = false
        /// Commands waiting for a connection, resumed when one opens.
        var waiters: [UInt64: CheckedContinuation<RedisConnection, any Error>] = [:]
        var lastWaiterID: UInt64 = 0

        /// The next open connection on `loop`, the caller's event loop, if one is open there: its
        /// command is written and its reply read on the thread that waits for it, and no other
        /// thread is woken for either (a request answered on its connection's loop, see
        /// TokenAPI's `EventLoopExecutor`). Else, or called off every loop, the next open
        /// connection, round robin.
        @inline(__always) mutating func pick(near loop: (any EventLoop)? = nil) -> RedisConnection? {
            if let loop, let near = self.firstOpen(where: { $0.eventLoop === loop }) { return near }
            return self.firstOpen(where: { _ in true })
        }

        /// The first open connection from ``next`` on, round robin, that `fits`.
        @inline(__always) private mutating func firstOpen(where fits: (RedisConnection) -> Bool) -> RedisConnection? {
            let count = self.connections.count
            for offset in 0..<count {
                let index = (self.next + offset) % count
                if let connection = self.connections[index], fits(connection) {
                    self.next = (index + 1) % count
                    return connection
                }
            }
            return nil
        }
    }

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(State(connections: Array(repeating: nil, count: configuration.connectionCount)))
        self.sentinel = configuration.sentinel.map { RedisSentinel(sentinel: $0, base: configuration, logger: logger) }
    }

    /// Keeps the connections open until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            for slot in 0..<self.configuration.connectionCount {
                group.addTask { await self.maintain(slot: slot) }
            }
            if let sentinel = self.sentinel {
                group.addTask {
                    await sentinel.watch(eventLoopGroup: self.eventLoopGroup) {
                        self.logger.notice("Sentinels switched the master; reconnecting")
                        self.closeConnections()
                    }
                }
            }
        }
    }

    /// A deadline one command timeout from now.
    func deadline() -> NIODeadline {
        .now() + TimeAmount(self.configuration.commandTimeout)
    }

    /// Sends one command and returns its reply.
    /// - Throws: ``RedisServerError`` for an error reply, ``RedisClientError`` when no reply came
    ///   before `deadline`.
    nonisolated(nonsending) func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue {
        let reply = try await self.perform(arguments, deadline: deadline)
        if case .error(let message) = reply { throw RedisServerError(message) }
        return reply
    }

    /// `ASKING` and then the command, on one connection (Redis Cluster, after `-ASK`).
    nonisolated(nonsending) func sendAsking(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue {
        let reply = try await self.perform([["ASKING"], arguments], deadline: deadline)[1]
        if case .error(let message) = reply { throw RedisServerError(message) }
        return reply
    }

    /// Sends one command and returns its reply, an error reply included. (The common case, kept
    /// apart from ``perform(_:deadline:)-([[String]],_)`` so it makes no arrays of commands and replies.)
    nonisolated(nonsending) func perform(_ command: [String], deadline: NIODeadline) async throws -> RESPValue {
        let start = ContinuousClock.now
        let connection: RedisConnection
        let reply: RESPValue
        do {
            connection = try await self.connection(before: deadline)
            reply = try await connection.send(command, deadline: deadline)
        } catch {
            self.metrics.clientErrors.increment()
            throw error
        }
        self.timed(since: start)
        self.count(reply, on: connection)
        return reply
    }

    /// Sends commands back to back on one connection and returns their replies, error replies
    /// included, in order.
    nonisolated(nonsending) func perform(_ commands: [[String]], deadline: NIODeadline) async throws -> [RESPValue] {
        let start = ContinuousClock.now
        let connection: RedisConnection
        let replies: [RESPValue]
        do {
            connection = try await self.connection(before: deadline)
            replies = try await connection.sendPipelined(commands, deadline: deadline)
        } catch {
            self.metrics.clientErrors.increment()
            throw error
        }
        self.timed(since: start)
        for reply in replies { self.count(reply, on: connection) }
        return replies
    }

    /// One answered call (one command, or commands pipelined together) in the latency histogram.
    private func timed(since start: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        self.metrics.latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Counts an error reply.
    private func count(_ reply: RESPValue, on connection: RedisConnection) {
        guard case .error(let message) = reply else { return }
        self.metrics.serverErrors.increment()
        // Under Sentinel, READONLY means this connection reached a demoted master: find the new one.
        if self.sentinel != nil, message.hasPrefix("READONLY") { connection.close() }
    }

    /// The node answers `PING`.
    func ping(deadline: NIODeadline) async throws {
        _ = try await self.send(["PING"], deadline: deadline)
    }

    /// Subscriptions go to this node.
    func subscriptionNode(shardChannel: String?) async throws -> RedisNode {
        self
    }

    /// An open connection now, or the first one that opens before `deadline`.
    private nonisolated(nonsending) func connection(before deadline: NIODeadline) async throws -> RedisConnection {
        // The common case, with no continuation: a suspension costs a trip through the executor.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop
        let (open, id) = self.state.withLockedValue { state -> (RedisConnection?, UInt64) in
            if let connection = state.pick(near: loop) { return (connection, 0) }
            state.lastWaiterID &+= 1
            return (nil, state.lastWaiterID)
        }
        if let open { return open }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                let picked = self.state.withLockedValue { state -> RedisConnection? in
                    if let connection = state.pick() { return connection }
                    state.waiters[id] = continuation
                    return nil
                }
                if let picked {
                    continuation.resume(returning: picked)
                    return
                }
                self.eventLoopGroup.any().scheduleTask(deadline: deadline) {
                    self.resumeWaiter(id, with: .failure(RedisClientError.connectionUnavailable("no connection to Redis at \(self.configuration.address)")))
                }
            }
        } onCancel: {
            self.resumeWaiter(id, with: .failure(CancellationError()))
        }
    }

    private func resumeWaiter(_ id: UInt64, with result: Result<RedisConnection, any Error>) {
        self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }?.resume(with: result)
    }

    /// Keeps connection `slot` open, on the group's loop `slot` (modulo their count), so the
    /// connections are spread evenly over the loops whatever else takes the group's `next()`
    /// (``State/pick(near:)`` prefers one on the caller's loop).
    private func maintain(slot: Int) async {
        var backoff = self.configuration.reconnectBackoff.lowerBound
        var failures = 0
        var logger = self.logger
        logger[metadataKey: "tokenpool.redis.connection"] = "\(slot)"
        let loops = Array(self.eventLoopGroup.makeIterator())
        let home = loops.isEmpty ? nil : loops[slot % loops.count]
        while !Task.isCancelled {
            do {
                let connection = try await self.connect(on: home, logger: logger)
                let waiters = self.state.withLockedValue { state in
                    state.connections[slot] = connection
                    defer { state.waiters.removeAll() }
                    return Array(state.waiters.values)
                }
                // Everyone waiting gets this connection at once: commands pipeline on it.
                waiters.forEach { $0.resume(returning: connection) }
                if failures > 0 { logger.info("Reconnected to Redis") }
                failures = 0
                backoff = self.configuration.reconnectBackoff.lowerBound
                await connection.waitUntilClosed()
                self.state.withLockedValue { $0.connections[slot] = nil }
                if !Task.isCancelled { logger.warning("Connection to Redis closed") }
            } catch {
                failures += 1
                // One warning per outage, then quiet until it is back.
                if failures == 1 {
                    logger.warning("Cannot connect to Redis", metadata: ["error": "\(error)"])
                } else {
                    logger.debug("Cannot connect to Redis", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: backoff)
            // Under Sentinel a new master may be up any moment: keep asking often.
            let ceiling = self.sentinel == nil ? self.configuration.reconnectBackoff.upperBound : .milliseconds(200)
            backoff = min(backoff * 2, max(ceiling, self.configuration.reconnectBackoff.lowerBound))
        }
    }

    /// A new connection: to the configured address, or to the master the sentinels name,
    /// confirmed with `ROLE` (a sentinel may still name a master that was just demoted).
    /// - Parameter onPush: for a subscriber's connection (see ``RedisConnection/connect(_:eventLoop:logger:onPush:)``).
    func connect(on loop: (any EventLoop)? = nil, logger: Logger, onPush: (@Sendable (RESPValue) -> Void)? = nil) async throws -> RedisConnection {
        let eventLoop = loop ?? self.eventLoopGroup.next()
        guard let sentinel = self.sentinel else {
            return try await RedisConnection.connect(self.configuration, eventLoop: eventLoop, logger: logger, onPush: onPush)
        }
        var configuration = self.configuration
        configuration.address = try await sentinel.masterAddress(eventLoop: eventLoop)
        let connection = try await RedisConnection.connect(configuration, eventLoop: eventLoop, logger: logger, onPush: onPush)
        do {
            let role = try await connection.send(["ROLE"], deadline: self.deadline())
            guard role.array?.first?.string == "master" else {
                throw RedisClientError.connectionUnavailable("\(configuration.address) is not a master (yet)")
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Closes every open connection; each reconnects (and, under Sentinel, finds the master again).
    private func closeConnections() {
        self.state.withLockedValue { $0.connections.compactMap { $0 } }.forEach { $0.close() }
    }
}
