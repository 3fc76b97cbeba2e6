import Logging
import NIOCore

/// Finds the master that Redis Sentinel names, and hears at once when it names another.
///
/// No failover logic of our own: the sentinels decide, this only asks them
/// (`SENTINEL GET-MASTER-ADDR-BY-NAME`, each sentinel in turn) and listens to them
/// (`+switch-master`). The client confirms with `ROLE` that what it reached is a master.
struct RedisSentinel: Sendable {
    let sentinel: RedisConfiguration.Sentinel
    /// Timeouts for talking to the sentinels.
    let base: RedisConfiguration
    let logger: Logger

    /// The master's address by the first sentinel that knows it.
    func masterAddress(eventLoop: any EventLoop) async throws -> RedisConfiguration.Address {
        var lastError: any Error = RedisClientError.connectionUnavailable("no sentinel answered")
        for address in self.sentinel.sentinels {
            do {
                let connection = try await RedisConnection.connect(self.configuration(of: address), eventLoop: eventLoop, logger: self.logger)
                defer { connection.close() }
                let reply = try await connection.send(
                    ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.sentinel.masterName],
                    deadline: .now() + TimeAmount(self.base.commandTimeout)
                )
                guard let fields = reply.array, fields.count == 2, let host = fields[0].string, let port = fields[1].int else {
                    lastError = RedisClientError.connectionUnavailable("sentinel \(address) does not know master '\(self.sentinel.masterName)'")
                    continue
                }
                return .tcp(host: host, port: port)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Calls `onSwitch` whenever a sentinel announces a new master under our name; keeps one
    /// subscription open (moving to the next sentinel when one goes) until cancelled.
    func watch(eventLoopGroup: any EventLoopGroup, onSwitch: @escaping @Sendable () -> Void) async {
        let prefix = self.sentinel.masterName + " "
        var index = 0
        while !Task.isCancelled {
            let address = self.sentinel.sentinels[index % self.sentinel.sentinels.count]
            index += 1
            do {
                let connection = try await RedisConnection.connect(
                    self.configuration(of: address), eventLoop: eventLoopGroup.next(), logger: self.logger
                ) { message in
                    // ["message", "+switch-master", "NAME OLDHOST OLDPORT NEWHOST NEWPORT"]
                    guard let fields = message.array, fields.count == 3, fields[0].string == "message",
                        fields[2].string?.hasPrefix(prefix) == true
                    else { return }
                    onSwitch()
                }
                _ = try await connection.send(["SUBSCRIBE", "+switch-master"], deadline: .now() + TimeAmount(self.base.commandTimeout))
                await connection.waitUntilClosed()
            } catch {
                self.logger.debug("Cannot listen to sentinel", metadata: ["tokenpool.redis.sentinel": "\(address)", "error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Sentinels speak plain RESP on their own port, with their own password, no database.
    private func configuration(of address: RedisConfiguration.Address) -> RedisConfiguration {
        var configuration = RedisConfiguration(address: address, password: self.sentinel.password)
        configuration.commandTimeout = self.base.commandTimeout
        configuration.connectTimeout = self.base.connectTimeout
        return configuration
    }
}
