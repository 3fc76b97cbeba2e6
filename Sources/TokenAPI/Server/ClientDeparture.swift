import Hummingbird
import NIOCore

/// Notices a client that goes away: its side of the connection closed (a FIN: the server keeps
/// half-closed connections) or the connection ended. One per connection over TLS and per HTTP/2
/// stream, in the pipeline (plain HTTP/1.1 is answered by ``ParkingHandler``, which notices it).
///
/// A waiting assign is watched by this, so a client that leaves leaves the queue at once, and
/// the connection of a client that stays can carry its next request (Hummingbird's own
/// `consumeWithCancellationOnInboundClose` ends the connection after every answer). A watch is a
/// callback, not a task: racing each wait against the client in a task group cost every waiter
/// two child tasks and their frames (docs/scaling.md).
final class ClientDepartureHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var departed = false
    /// The request watching now, and what it runs when the client goes.
    fileprivate var watching: (id: UInt64, onDeparture: @Sendable () -> Void)?
    private var lastWatch: UInt64 = 0

    func handlerRemoved(context: ChannelHandlerContext) {
        self.depart()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            self.depart()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.depart()
        context.fireChannelInactive()
    }

    private func depart() {
        self.departed = true
        let watch = self.watching
        self.watching = nil
        watch?.onDeparture()
    }

    /// Runs `onDeparture` once, on the channel's event loop, when the client of `channel` goes
    /// away (at once if it has gone) before the watch ends. A channel without such a handler
    /// (Hummingbird's test channels; one closed already) is not watched: every server pipeline
    /// has one, HTTP/1 over TLS and HTTP/2 streams included.
    static func watch(_ channel: any Channel, onDeparture: @escaping @Sendable () -> Void) -> ClientWatch {
        let id = NIOLoopBoundBox.makeEmptyBox(valueType: UInt64.self, eventLoop: channel.eventLoop)
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ClientDepartureHandler.self) else { return }
            guard !handler.departed else { return onDeparture() }
            handler.lastWatch &+= 1
            handler.watching = (handler.lastWatch, onDeparture)
            id.value = handler.lastWatch
        }
        return ClientWatch(channel: channel, id: id)
    }
}

/// A request's watch on its client (``ClientDepartureHandler/watch(_:onDeparture:)``).
struct ClientWatch: Sendable {
    fileprivate let channel: any Channel
    fileprivate let id: NIOLoopBoundBox<UInt64?>

    /// Stops watching; a departure after this calls nothing. (Queued on the channel's event loop
    /// behind the watch's start, so the two never cross.)
    func end() {
        let (channel, id) = (self.channel, self.id)
        channel.eventLoop.execute {
            guard let handler = try? channel.pipeline.syncOperations.handler(type: ClientDepartureHandler.self),
                  let watching = id.value, handler.watching?.id == watching else { return }
            handler.watching = nil
        }
    }
}

/// A request context that knows its connection's channel.
protocol ChannelRequestContext: RequestContext {
    var channel: (any Channel)? { get }
    /// Where a waiting assign read by ``ParkingHandler`` parks its wait; nil for any other request.
    var parking: ParkingSlot? { get }
}

/// The server's request context: Hummingbird's basics and the connection's channel.
struct TokenRequestContext: CallerRequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: (any Channel)?
    /// The key that made the request, once ``APIGuard`` let it in; nil on an open service.
    var caller: APIKey?
    var parking: ParkingSlot?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

extension ChannelRequestContext {
    /// Runs `onDeparture` if the client goes away before the returned watch ends; nil without a
    /// channel (a test's context).
    func watchClient(onDeparture: @escaping @Sendable () -> Void) -> ClientWatch? {
        self.channel.map { ClientDepartureHandler.watch($0, onDeparture: onDeparture) }
    }
}
