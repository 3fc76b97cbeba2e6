import Hummingbird
import NIOCore

/// Notices a client that goes away: its side of the connection closed (a FIN: the server keeps
/// half-closed connections) or the connection ended. One per HTTP connection, in the pipeline.
///
/// A waiting assign races its wait against this, so a client that leaves leaves the queue at
/// once, and the connection of a client that stays can carry its next request (Hummingbird's
/// own `consumeWithCancellationOnInboundClose` ends the connection after every answer).
final class ClientDepartureHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var departed: EventLoopPromise<Void>?

    func handlerAdded(context: ChannelHandlerContext) {
        self.departed = context.eventLoop.makePromise()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.departed?.succeed()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            self.departed?.succeed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.departed?.succeed()
        context.fireChannelInactive()
    }

    /// Completes when the client of `channel` has gone; nil when `channel` has no such handler.
    static func departure(of channel: any Channel) async -> EventLoopFuture<Void>? {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ClientDepartureHandler.self).departed?.futureResult
        }.get()
    }
}

/// A request context that knows its connection's channel.
protocol ChannelRequestContext: RequestContext {
    var channel: (any Channel)? { get }
}

/// The server's request context: Hummingbird's basics and the connection's channel.
struct TokenRequestContext: CallerRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: (any Channel)?
    /// The key that made the request, once ``APIGuard`` let it in; nil on an open service.
    var caller: APIKey?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension ChannelRequestContext {
    /// Runs `body`, cancelled if the client goes away first.
    func untilClientLeaves<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let channel = self.channel, let departure = await ClientDepartureHandler.departure(of: channel) else {
            return try await body()
        }
        let (departed, signal) = AsyncStream<Void>.makeStream()
        departure.whenComplete { _ in signal.finish() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            // Ends when the client leaves, or when the group is cancelled after the answer.
            group.addTask {
                for await _ in departed {}
                return nil
            }
            defer { group.cancelAll() }
            guard case .some(.some(let value)) = try await group.next() else { throw CancellationError() }
            return value
        }
    }
}
