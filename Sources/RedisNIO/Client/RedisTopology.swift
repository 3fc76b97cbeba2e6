import NIOCore

/// How a ``RedisClient`` reaches Redis: one node (``RedisNode``: an address, or the master the
/// sentinels name) or a Redis Cluster (``RedisClusterClient``: the master of each key's slot).
/// The client picks one from its configuration once; nothing above it branches on the topology.
protocol RedisTopology: Sendable {
    /// Keeps the connections open until cancelled.
    func run() async
    /// One command; an error reply is thrown as ``RedisServerError``. Our commands name their key
    /// first (`SADD key ...`): a cluster routes by it.
    func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue
    /// A script on the node of its first key.
    func evaluate(_ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline) async throws -> RESPValue
    /// Every node this topology sends to answers `PING`; else which do not.
    func ping(deadline: NIODeadline) async throws
    /// A node to hold a subscription on: for a sharded channel, the master of its slot on a
    /// cluster; else any master (a `PUBLISH` reaches every node of a cluster).
    func subscriptionNode(shardChannel: String?) async throws -> RedisNode
}
