import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One TCP or unix-socket connection to Redis, with many commands in flight.
package final class RedisConnection: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects, authenticates and selects the database, or throws.
    /// - Parameter onPush: makes this a subscriber's connection, which hands every pushed
    ///   message (`SUBSCRIBE`) to `onPush`.
    static func connect(
        _ configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        onPush: (@Sendable (RESPValue) -> Void)? = nil
    ) async throws -> RedisConnection {
        let tls = try configuration.tls.map { try Self.tlsContext($0) }
        let serverHostname: String? = if case .tcp(let host, _) = configuration.address, !Self.isIPAddress(host) { host } else { nil }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisCommandHandler(onPush: onPush))
                }
            }
        let channel: any Channel
        switch configuration.address {
        case .tcp(let host, let port):
            channel = try await bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1).connect(host: host, port: port).get()
        case .unixSocket(let path):
            channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
        }
        let connection = RedisConnection(channel: channel)
        let deadline = NIODeadline.now() + TimeAmount(configuration.commandTimeout)
        do {
            if let password = configuration.password {
                let auth = configuration.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
                try Self.check(try await connection.send(auth, deadline: deadline))
            }
            if configuration.database != 0 {
                try Self.check(try await connection.send(["SELECT", String(configuration.database)], deadline: deadline))
            }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends one command; its reply, `-ERR` replies included, completes the result.
    /// - Throws: ``RedisClientError/timeout`` when no reply came before `deadline`.
    func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue {
        let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        // A write to a channel that has just closed never reaches the handler: fail the command here.
        written.futureResult.whenFailure { _ in promise.fail(RedisClientError.connectionClosed) }
        let request = RedisRequest(arguments: arguments, promise: promise, deadline: deadline, allocator: self.channel.allocator)
        self.channel.writeAndFlush(request, promise: written)
        return try await promise.futureResult.get()
    }

    /// Sends commands back to back, so they leave together and run in order with nothing
    /// between them on this connection; returns their replies in order.
    func sendPipelined(_ commands: [[String]], deadline: NIODeadline) async throws -> [RESPValue] {
        let promises = commands.map { arguments in
            let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
            let written = self.channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenFailure { _ in promise.fail(RedisClientError.connectionClosed) }
            self.channel.write(RedisRequest(arguments: arguments, promise: promise, deadline: deadline, allocator: self.channel.allocator), promise: written)
            return promise
        }
        self.channel.flush()
        var replies: [RESPValue] = []
        for promise in promises {
            replies.append(try await promise.futureResult.get())
        }
        return replies
    }

    /// Returns when the connection has closed, for whatever reason. Cancelling closes it.
    func waitUntilClosed() async {
        await withTaskCancellationHandler {
            try? await self.channel.closeFuture.get()
        } onCancel: {
            self.close()
        }
    }

    func close() {
        self.channel.close(promise: nil)
    }

    private static func tlsContext(_ tls: RedisConfiguration.TLS) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile = tls.caFile {
            configuration.trustRoots = .file(caFile)
        }
        if tls.insecure {
            configuration.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    private static func check(_ reply: RESPValue) throws {
        if case .error(let message) = reply { throw RedisServerError(message) }
    }
}
