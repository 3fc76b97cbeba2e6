import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Redis Cluster: one ``RedisNode`` per master, each command sent to the master of its key's
/// hash slot.
///
/// The slot map comes from `CLUSTER SLOTS` (asked of the masters known, then the seeds), at
/// start, every second, and at once after a `MOVED` or a node that cannot be reached. `MOVED`
/// corrects the map and the command goes again; `ASK` sends it once to the node named, after
/// `ASKING`; `TRYAGAIN` and `CLUSTERDOWN` (a slot mid-migration, a failover) are retried with a
/// short backoff. Every try shares the command's one deadline.
final class RedisClusterClient: RedisTopology, Sendable {
    private let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let started: AsyncStream<RedisNode>
    private let start: AsyncStream<RedisNode>.Continuation

    private struct State {
        var map = SlotMap()
        var nodes: [RedisConfiguration.Address: RedisNode] = [:]
        var lastRefresh: NIODeadline?
    }

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        (self.started, self.start) = AsyncStream.makeStream(of: RedisNode.self)
    }

    /// Runs every node's client (new ones as the map names them) and refreshes the map each
    /// second, until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    await self.refresh(force: true)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            for await node in self.started {
                group.addTask { await node.run() }
            }
        }
    }

    /// To the master of the command's key: our commands name it first (`SADD key ...`); a
    /// command with none goes to any master.
    nonisolated(nonsending) func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue {
        try await self.routed(key: arguments.count > 1 ? arguments[1] : nil, deadline: deadline) { node, asking in
            asking ? try await node.sendAsking(arguments, deadline: deadline) : try await node.send(arguments, deadline: deadline)
        }
    }

    nonisolated(nonsending) func evaluate(_ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline) async throws -> RESPValue {
        try await self.routed(key: keys.first, deadline: deadline) { node, asking in
            try await node.evaluate(script, keys: keys, arguments: arguments, changesState: changesState, deadline: deadline, asking: asking)
        }
    }

    /// Every master in the map answers `PING`.
    func ping(deadline: NIODeadline) async throws {
        let masters = self.state.withLockedValue { $0.map.masters }
        guard !masters.isEmpty, self.state.withLockedValue({ $0.map.uncovered }) == 0 else {
            throw RedisClientError.connectionUnavailable("the cluster's slot map is not known, or not every slot has a master")
        }
        var silent: [String] = []
        for master in masters {
            do {
                _ = try await self.node(at: master).send(["PING"], deadline: deadline)
            } catch {
                silent.append("\(master)")
            }
        }
        guard silent.isEmpty else {
            throw RedisClientError.connectionUnavailable("\(masters.count - silent.count) of \(masters.count) masters answer; not \(silent.joined(separator: ", "))")
        }
    }

    /// Runs `body` on the master of `key`'s slot, following redirections and retrying what
    /// passes, until it succeeds, fails for good, or the deadline is near.
    private func routed<T>(key: String?, deadline: NIODeadline, _ body: (RedisNode, _ asking: Bool) async throws -> T) async throws -> T {
        let slot = key.map(HashSlot.of)
        var askAt: RedisConfiguration.Address?
        var backoff = TimeAmount.milliseconds(10)
        var redirections = 0
        while true {
            let lastError: any Error
            do {
                let node: RedisNode
                if let askAt {
                    node = self.node(at: askAt)
                } else {
                    node = try await self.master(of: slot)
                }
                return try await body(node, askAt != nil)
            } catch let error as RedisServerError {
                if let redirection = Redirection(error) {
                    // Nodes that disagree for a moment (a migration, a failover) could bounce a
                    // command back and forth: a bound, then transient trouble (503).
                    redirections += 1
                    guard redirections <= 16 else {
                        throw RedisClientError.connectionUnavailable("slot \(redirection.slot): redirected 16 times; the cluster is changing")
                    }
                    askAt = nil
                    switch redirection.kind {
                    case .moved:
                        self.state.withLockedValue { $0.map.assign(redirection.slot...redirection.slot, to: redirection.address) }
                        await self.refresh(force: false)
                    case .ask:
                        askAt = redirection.address
                    }
                    continue
                }
                guard error.prefix == "TRYAGAIN" || error.prefix == "CLUSTERDOWN" else { throw error }
                lastError = error
            } catch let error as RedisClientError where error.code == .connectionUnavailable || error.code == .connectionClosed {
                // A master that cannot be reached may have failed over: ask the cluster again.
                await self.refresh(force: false)
                lastError = error
            }
            askAt = nil
            guard NIODeadline.now() + backoff < deadline else { throw lastError }
            try await Task.sleep(for: .nanoseconds(backoff.nanoseconds))
            backoff = min(backoff * 2, .milliseconds(200))
        }
    }

    /// Some master: for what any node serves alike (`PUBLISH` reaches every node).
    func subscriptionNode(shardChannel: String?) async throws -> RedisNode {
        try await self.master(of: shardChannel.map(HashSlot.of))
    }

    private func master(of slot: Int?) async throws -> RedisNode {
        if let address = self.state.withLockedValue({ state in slot.map { state.map.master(of: $0) } ?? state.map.masters.first }) {
            return self.node(at: address)
        }
        await self.refresh(force: false)
        guard let address = self.state.withLockedValue({ state in slot.map { state.map.master(of: $0) } ?? state.map.masters.first }) else {
            throw RedisClientError.connectionUnavailable("no master serves slot \(slot.map(String.init) ?? "-") (yet)")
        }
        return self.node(at: address)
    }

    /// The client of one node, made (and started by ``run()``) the first time it is named.
    private func node(at address: RedisConfiguration.Address) -> RedisNode {
        let (node, isNew) = self.state.withLockedValue { state -> (RedisNode, Bool) in
            if let known = state.nodes[address] { return (known, false) }
            var configuration = self.configuration
            configuration.cluster = nil
            configuration.address = address
            let node = RedisNode(configuration: configuration, eventLoopGroup: self.eventLoopGroup, logger: self.logger)
            state.nodes[address] = node
            return (node, true)
        }
        if isNew { self.start.yield(node) }
        return node
    }

    /// Asks the masters known, then the seeds, for `CLUSTER SLOTS`; the first full answer wins.
    /// Unless `force`, at most once in 100 ms.
    private func refresh(force: Bool) async {
        let skip = self.state.withLockedValue { state -> Bool in
            if !force, let last = state.lastRefresh, NIODeadline.now() - last < .milliseconds(100) { return true }
            state.lastRefresh = .now()
            return false
        }
        if skip { return }
        let candidates = self.state.withLockedValue { $0.map.masters } + self.configuration.cluster!.seeds
        for address in candidates {
            guard case .tcp(let host, _) = address else { continue }
            var configuration = self.configuration
            configuration.cluster = nil
            configuration.address = address
            configuration.connectTimeout = .milliseconds(300)
            do {
                let connection = try await RedisConnection.connect(configuration, eventLoop: self.eventLoopGroup.next(), logger: self.logger)
                defer { connection.close() }
                let reply = try await connection.send(["CLUSTER", "SLOTS"], deadline: .now() + .milliseconds(500))
                let map = try SlotMap(clusterSlots: reply, fallbackHost: host)
                guard map.uncovered == 0 else { continue }
                self.state.withLockedValue { $0.map = map }
                for master in map.masters { _ = self.node(at: master) }
                return
            } catch {
                continue
            }
        }
        self.logger.debug("No node gave a full slot map")
    }
}
