import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import ServiceLifecycle

/// Serves each connection in a task of its own instead of as a child of the server's task group,
/// with a smaller first read buffer (``receiveBuffer``).
///
/// Hummingbird's server adds every connection to one discarding task group. This Swift
/// runtime keeps a group's children in a singly linked list in the order they came, and a
/// child that ends is found by walking the list from its oldest member
/// (`TaskGroup::removeChildTask`). With 10,000 listeners or waiters connected, every
/// connection that closed after them walked past all 10,000, under the group's lock: a new
/// connection cost the replica 0.79 ms of CPU instead of 0.39 (docs/scaling.md). Here the
/// group's child hands the connection to a task of its own and ends at once, so the group
/// holds no one for long.
///
/// What the group gave is kept: the task inherits the child's task-locals (the graceful
/// shutdown handlers that waits and event streams register), and ``OpenConnections`` keeps
/// the server's shutdown from going on to the Redis client before the last connection's task
/// has answered (a wait interrupted by the shutdown leaves its queue in Redis).
struct DetachedConnections<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let open: OpenConnections
    /// Every request of an HTTP/1 connection without TLS answered by ``ParkingHandler``, not by
    /// the connection's task (nil: by the task).
    let parking: ParkingHandler.Configuration?

    init(_ base: Base, open: OpenConnections, parking: ParkingHandler.Configuration? = nil) {
        (self.base, self.open, self.parking) = (base, open, parking)
    }

    /// A connection's first read buffer: 512 bytes, not NIO's 2,048. The channel keeps its read
    /// buffer for the next read, so an idle connection that has read one request holds it for as
    /// long as it is open: 1.5 KiB less a connection, idle, waiting or listening
    /// (docs/scaling.md). A request that fills it is read on in the same wake-up, and the buffer
    /// grows (and shrinks) with what the connection sends.
    static var receiveBuffer: AdaptiveRecvByteBufferAllocator { AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536) }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffer)
        } catch {
            logger.debug("The connection keeps NIO's read buffer", metadata: ["error": "\(error)"])
        }
        guard let parking = self.parking else { return self.base.setup(channel: channel, logger: logger) }
        return self.base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try Self.replaceHTTPHandlers(of: channel, with: parking)
            return value
        }
    }

    /// Hummingbird's HTTP/1 handlers on a connection that ``ParkingHandler`` answers give way to
    /// fewer of ours: NIO's decoder (made without the encoder it would tell each request's
    /// method to) and the parking handler, whose ``HTTP1Codec`` stands in for swift-nio-extras' codec
    /// and NIO's encoder, and which keeps the idle timeout and the shutdown's close that
    /// `HTTPConnectionStateHandler` kept. Every part of every request and answer went through
    /// each of those handlers (docs/profile.md). The connection's task keeps its async channel
    /// behind them, and hears nothing until the connection ends.
    private static func replaceHTTPHandlers(of channel: any Channel, with parking: ParkingHandler.Configuration) throws {
        let pipeline = channel.pipeline.syncOperations
        let replaced: [any RemovableChannelHandler] = [
            try pipeline.handler(type: HTTPResponseEncoder.self),
            try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self),
            try pipeline.handler(type: HTTP1ToHTTPServerCodec.self),
            try pipeline.handler(type: HTTPConnectionStateHandler.self),
        ]
        for handler in replaced { pipeline.removeHandler(handler, promise: nil) }
        let decoder = HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: parking.decoderLimits)
        try pipeline.addHandlers([ByteToMessageHandler(decoder), ParkingHandler(parking)], position: .first)
    }

    func handle(value: Value, logger: Logger) async {
        let (base, open) = (self.base, self.open)
        open.enter()
        Task {
            await base.handle(value: value, logger: logger)
            open.leave()
        }
    }
}

/// The connections whose tasks still run, as a service: shut down after the HTTP server (it is
/// the last of the application's services, and they shut down in reverse order), it returns
/// once every connection's task has ended, so the services before it (the Redis client, the
/// reaper) stop only then.
final class OpenConnections: Service, Sendable {
    private struct State {
        var count = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())
    /// Runs when the shutdown begins: answers the waits and ends the event streams parked on
    /// connections, which no task holds to hear it (``TokenPool/interruptWaits()``).
    private let onShutdown: @Sendable () -> Void

    init(onShutdown: @escaping @Sendable () -> Void = {}) {
        self.onShutdown = onShutdown
    }

    func enter() {
        self.state.withLockedValue { $0.count += 1 }
    }

    func leave() {
        let drained = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in drained { continuation.resume() }
    }

    func run() async throws {
        // Cancelled (not a graceful shutdown): nothing to wait for.
        guard (try? await gracefulShutdown()) != nil else { return }
        self.onShutdown()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = self.state.withLockedValue { state in
                if state.count == 0 { return true }
                state.drained.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
