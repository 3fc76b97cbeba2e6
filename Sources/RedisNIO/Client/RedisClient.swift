import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The Redis client the pool uses, whatever the topology behind it: one node, Sentinel or a
/// Redis Cluster (``RedisTopology``), chosen once from the configuration.
///
/// Run it as a `Service`: while it runs it keeps its connections open and reconnects. Every
/// command has one deadline, the command timeout from when it is sent, covering the wait for a
/// connection and for the reply.
package final class RedisClient: Service, Sendable {
    package let configuration: RedisConfiguration
    package let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let topology: any RedisTopology

    package init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.topology =
            if configuration.cluster != nil {
                RedisClusterClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            } else {
                RedisNode(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            }
    }

    /// Keeps the connections open until cancelled or graceful shutdown.
    package func run() async throws {
        await cancelWhenGracefulShutdown { await self.topology.run() }
    }

    /// A deadline one command timeout from now.
    package func deadline() -> NIODeadline {
        .now() + TimeAmount(self.configuration.commandTimeout)
    }

    /// Sends one command and returns its reply.
    /// - Throws: ``RedisServerError`` for an error reply, ``RedisClientError`` when no reply came
    ///   before `deadline` (default: one command timeout from now).
    package nonisolated(nonsending) func send(_ arguments: [String], deadline: NIODeadline? = nil) async throws -> RESPValue {
        try await self.topology.send(arguments, deadline: deadline ?? self.deadline())
    }

    package nonisolated(nonsending) func send(_ arguments: String...) async throws -> RESPValue {
        try await self.send(arguments)
    }

    /// Runs a Lua script: as its library's function by `FCALL` where Redis has functions (Redis
    /// 7), else by `EVALSHA`; either is loaded first when Redis does not know it yet.
    ///
    /// With `changesState` and ``RedisConfiguration/waitReplicas`` N > 0, `WAIT N` follows the
    /// script on the same connection; fewer than N acknowledgements before the deadline is
    /// ``RedisClientError/notReplicated(_:of:)``.
    package nonisolated(nonsending) func evaluate(_ script: RedisScript, keys: [String], arguments: [String], changesState: Bool = false) async throws -> RESPValue {
        try await self.topology.evaluate(script, keys: keys, arguments: arguments, changesState: changesState, deadline: self.deadline())
    }

    /// Every node this client sends to answers `PING`; else which do not.
    package func ping() async throws {
        try await self.topology.ping(deadline: self.deadline())
    }

    /// A node to hold a subscription on.
    func subscriptionNode(shardChannel: String?) async throws -> RedisNode {
        try await self.topology.subscriptionNode(shardChannel: shardChannel)
    }
}
