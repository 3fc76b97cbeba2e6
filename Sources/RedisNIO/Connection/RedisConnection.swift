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

    /// The loop its channel reads and writes on.
    var eventLoop: any EventLoop { self.channel.eventLoop }

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
    nonisolated(nonsending) func send(_ arguments: [String], deadline: NIODeadline) async throws -> RESPValue {
        let command = RESPEncoder.command(arguments, allocator: self.channel.allocator)
        let channel = self.channel
        // Unsafe, not checked: the handler's state machine completes every command exactly once
        // (its reply, its deadline, or the connection's end), and `write` fails it if it comes late.
        return try await withUnsafeThrowingContinuation { continuation in
            let request = RedisRequest(command: command, reply: .task(continuation), deadline: deadline)
            // From a task on the connection's own loop, at once (its reply can only be read after
            // this returns); from anywhere else, by the loop.
            if channel.eventLoop.inEventLoop { return Self.write(request, to: channel) }
            channel.eventLoop.execute { Self.write(request, to: channel) }
        }
    }

    /// Sends commands back to back, so they leave together and run in order with nothing
    /// between them on this connection; returns their replies in order.
    nonisolated(nonsending) func sendPipelined(_ commands: [[String]], deadline: NIODeadline) async throws -> [RESPValue] {
        let promises = commands.map { _ in self.channel.eventLoop.makePromise(of: RESPValue.self) }
        let requests = zip(commands, promises).map { command, promise in
            RedisRequest(arguments: command, promise: promise, deadline: deadline, allocator: self.channel.allocator)
        }
        let channel = self.channel
        channel.eventLoop.execute {
            for request in requests { Self.write(request, to: channel) }
        }
        var replies: [RESPValue] = []
        for promise in promises {
            replies.append(try await promise.futureResult.get())
        }
        return replies
    }

    /// On the channel's event loop: hands the command to the pipeline (the handler flushes once a
    /// tick), or fails it when the channel has closed, as a write then never reaches the handler
    /// that fails the commands it holds. (A write promise and its callback did this before, at
    /// two allocations a command.)
    private static func write(_ request: RedisRequest, to channel: any Channel) {
        channel.eventLoop.assertInEventLoop()
        guard channel.isActive else {
            request.reply.fail(RedisClientError.connectionClosed)
            return
        }
        // Wrapped here, where its type is known: `Channel.write` wraps its generic argument with
        // four dynamic casts (is it a ByteBuffer, a FileRegion, ...) on every command.
        channel.pipeline.syncOperations.write(NIOAny(request), promise: nil)
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
