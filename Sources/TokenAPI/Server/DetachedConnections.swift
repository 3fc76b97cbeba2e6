import HummingbirdCore
import Logging
import NIOCore

/// Serves each connection in a task of its own instead of as a child of the server's task group.
///
/// Hummingbird's server adds every connection to one discarding task group. This Swift
/// runtime keeps a group's children in a singly linked list in the order they came, and a
/// child that ends is found by walking the list from its oldest member
/// (`TaskGroup::removeChildTask`). With 10,000 listeners or waiters connected, every
/// connection that closed after them walked past all 10,000, under the group's lock: a new
/// connection cost the replica 0.82 ms of CPU instead of 0.42 (docs/scaling.md). Here the
/// group's child hands the connection to a task of its own and ends at once, so the group
/// holds no one for long.
///
/// What the group gave is kept: the task inherits the child's task-locals (the graceful
/// shutdown handlers that waits and event streams register), and the server's graceful shutdown
/// waits for every connection's channel to close (Hummingbird's quiescing helper counts
/// channels, not tasks).
struct DetachedConnections<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base

    init(_ base: Base) {
        self.base = base
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        self.base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        let base = self.base
        Task { await base.handle(value: value, logger: logger) }
    }
}
