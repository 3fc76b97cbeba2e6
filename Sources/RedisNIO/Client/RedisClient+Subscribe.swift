import Logging
import NIOCore

extension RedisClient {
    /// Listens to `channel` on a connection of its own until cancelled, reconnecting (with the
    /// client's backoff) whenever the connection goes: to the master the sentinels name under
    /// Sentinel, to any master on Redis Cluster (a `PUBLISH` reaches every node).
    ///
    /// Messages published while no subscription stands are lost: the caller needs a way to
    /// catch up that does not depend on them.
    package func subscribe(to channel: String, onMessage: @escaping @Sendable (String) -> Void) async {
        var backoff = self.configuration.reconnectBackoff.lowerBound
        while !Task.isCancelled {
            do {
                let node = try await self.subscriptionNode()
                let connection = try await node.connect(logger: self.logger) { push in
                    // ["message", CHANNEL, PAYLOAD]
                    guard let fields = push.array, fields.count == 3, fields[0].string == "message", let payload = fields[2].string else { return }
                    onMessage(payload)
                }
                _ = try await connection.send(["SUBSCRIBE", channel], deadline: self.deadline())
                backoff = self.configuration.reconnectBackoff.lowerBound
                await withTaskCancellationHandler {
                    await connection.waitUntilClosed()
                } onCancel: {
                    connection.close()
                }
            } catch {
                self.logger.debug("Cannot subscribe", metadata: ["tokenpool.redis.channel": "\(channel)", "error": "\(error)"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, max(.milliseconds(200), self.configuration.reconnectBackoff.lowerBound))
        }
    }
}
