import Logging
import NIOConcurrencyHelpers
import NIOCore

extension RedisClient {
    /// Whether this client talks to a Redis Cluster, where a pool's messages go by sharded
    /// pub/sub (`SPUBLISH`), to its slot's shard only.
    package var isCluster: Bool { self.configuration.cluster != nil }

    /// Listens to `channel` on a connection of its own until cancelled, reconnecting (with the
    /// client's backoff) whenever the connection goes: to the master the sentinels name under
    /// Sentinel, to any master on Redis Cluster (a `PUBLISH` reaches every node).
    ///
    /// `sharded`: `SSUBSCRIBE` instead, at the master of the channel's slot. When the slot
    /// moves (migrated, or its master failed over) Redis ends the subscription (`sunsubscribe`)
    /// or the connection goes; either way this subscribes again at the slot's master as the
    /// slot map names it then.
    ///
    /// Messages published while no subscription stands are lost: the caller needs a way to
    /// catch up that does not depend on them.
    package func subscribe(to channel: String, sharded: Bool = false, onMessage: @escaping @Sendable (String) -> Void) async {
        var backoff = self.configuration.reconnectBackoff.lowerBound
        let kind = sharded ? "smessage" : "message"
        while !Task.isCancelled {
            do {
                let node = try await self.subscriptionNode(shardChannel: sharded ? channel : nil)
                let opened = NIOLockedValueBox<RedisConnection?>(nil)
                let connection = try await node.connect(logger: self.logger) { push in
                    // [KIND, CHANNEL, PAYLOAD]; or ["sunsubscribe", CHANNEL, COUNT] once the slot moved.
                    guard let fields = push.array, fields.count == 3 else { return }
                    if fields[0].string == kind, let payload = fields[2].string {
                        onMessage(payload)
                    } else if sharded, fields[0].string == "sunsubscribe" {
                        opened.withLockedValue { $0 }?.close()
                    }
                }
                opened.withLockedValue { $0 = connection }
                do {
                    _ = try await connection.send([sharded ? "SSUBSCRIBE" : "SUBSCRIBE", channel], deadline: self.deadline())
                } catch {
                    connection.close()
                    throw error
                }
                backoff = self.configuration.reconnectBackoff.lowerBound
                await withTaskCancellationHandler {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { await connection.waitUntilClosed() }
                        if sharded {
                            // Redis ends a moved slot's subscriptions, but a master cut off can miss
                            // the move: the slot map, refreshed every second, has the last word.
                            group.addTask {
                                while !Task.isCancelled {
                                    try? await Task.sleep(for: .seconds(1))
                                    if let owner = try? await self.subscriptionNode(shardChannel: channel), owner !== node { return }
                                }
                            }
                        }
                        await group.next()
                        group.cancelAll()
                        connection.close()
                    }
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
