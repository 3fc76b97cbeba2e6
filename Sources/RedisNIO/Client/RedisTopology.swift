import NIOCore

/// How a ``RedisClient`` reaches Redis: one node (``RedisNode``: an address, or the master the
/// sentinels name) or a Redis Cluster (``RedisClusterClient``: the master of each key's slot).
/// The client picks one from its configuration once; nothing above it branches on the topology.
///
/// A call's functions, from the server's route down to the connection's write, are
/// `nonisolated(nonsending)`: each runs on its caller's executor, the request's event loop,
/// instead of switching executors at its entry and its caller again on its return (some 30
/// switches a request, each a look at the task's preferred executor under its status lock;
/// docs/profile.md). Functions that start tasks or iterate async sequences are left as they are.
protocol RedisTopology: Sendable {
    /// Keeps the connections open until cancelled.
    func run() async
    /// One command; an error reply is thrown as ``RedisServerError``. Our commands name their key
    /// first (`SADD key ...`): a cluster routes by it.
    nonisolated(nonsending) func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue
    /// A script on the node of its first key.
    nonisolated(nonsending) func evaluate(_ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline) async throws -> RESPValue
    /// Every node this topology sends to answers `PING`; else which do not.
    func ping(deadline: NIODeadline) async throws
    /// A node to hold a subscription on: for a sharded channel, the master of its slot on a
    /// cluster; else any master (a `PUBLISH` reaches every node of a cluster).
    func subscriptionNode(shardChannel: String?) async throws -> RedisNode
}
