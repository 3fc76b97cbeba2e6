import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A small pool of pipelined connections to one Redis, kept open by ``run()``.
///
/// Run it as a `Service`: while it runs it keeps `connectionCount` connections open and
/// reconnects with exponential backoff. A command goes to the next open connection; with
/// none open it waits up to the command timeout for one, then fails with
/// ``RedisClientError/connectionUnavailable(_:)``. Every command has that timeout.
public final class RedisClient: Service, Sendable {
    public let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    private let metrics = RedisMetrics()

    private struct State {
        var connections: [RedisConnection?]
        var next = 0
        var scriptHashes: [String: String] = [:]
    }

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.state = NIOLockedValueBox(State(connections: Array(repeating: nil, count: configuration.connectionCount)))
    }

    /// Keeps the connections open until cancelled or graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for slot in 0..<self.configuration.connectionCount {
                    group.addTask { await self.maintain(slot: slot) }
                }
            }
        }
    }

    /// Sends one command and returns its reply.
    /// - Throws: ``RedisServerError`` for an error reply, ``RedisClientError`` when no reply came.
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let start = ContinuousClock.now
        let reply: RESPValue
        do {
            reply = try await self.connection().send(arguments)
        } catch {
            self.metrics.clientErrors.increment()
            throw error
        }
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        self.metrics.latency.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        if case .error(let message) = reply {
            self.metrics.serverErrors.increment()
            throw RedisServerError(message)
        }
        return reply
    }

    public func send(_ arguments: String...) async throws -> RESPValue {
        try await self.send(arguments)
    }

    /// Runs a Lua script by `EVALSHA`, loading it first when Redis does not know it yet
    /// (first use, or after a restart or failover: `NOSCRIPT`).
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        let known = self.state.withLockedValue { $0.scriptHashes[script.name] }
        let hash: String
        if let known {
            hash = known
        } else {
            hash = try await self.load(script)
        }
        let command = ["EVALSHA", hash, String(keys.count)] + keys + arguments
        do {
            return try await self.send(command)
        } catch let error as RedisServerError where error.prefix == "NOSCRIPT" {
            self.logger.info("Redis lost a script; loading it again", metadata: ["tokenpool.script": "\(script.name)"])
            var reloaded = command
            reloaded[1] = try await self.load(script)
            return try await self.send(reloaded)
        }
    }

    private func load(_ script: RedisScript) async throws -> String {
        guard let hash = try await self.send("SCRIPT", "LOAD", script.source).string else {
            throw RedisClientError.unexpectedReply("SCRIPT LOAD gave no hash")
        }
        self.state.withLockedValue { $0.scriptHashes[script.name] = hash }
        return hash
    }

    private func connection() async throws -> RedisConnection {
        let deadline = ContinuousClock.now + self.configuration.commandTimeout
        while true {
            let picked = self.state.withLockedValue { state -> RedisConnection? in
                let count = state.connections.count
                for offset in 0..<count {
                    let index = (state.next + offset) % count
                    if let connection = state.connections[index] {
                        state.next = (index + 1) % count
                        return connection
                    }
                }
                return nil
            }
            if let picked { return picked }
            if ContinuousClock.now >= deadline {
                throw RedisClientError.connectionUnavailable("no connection to Redis at \(self.configuration.address)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func maintain(slot: Int) async {
        var backoff = self.configuration.reconnectBackoff.lowerBound
        var failures = 0
        var logger = self.logger
        logger[metadataKey: "tokenpool.redis.connection"] = "\(slot)"
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    self.configuration,
                    eventLoop: self.eventLoopGroup.next(),
                    logger: logger
                )
                self.state.withLockedValue { $0.connections[slot] = connection }
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
            backoff = min(backoff * 2, self.configuration.reconnectBackoff.upperBound)
        }
    }
}

/// A Lua script and the name it is known by.
public struct RedisScript: Sendable {
    public let name: String
    public let source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}
