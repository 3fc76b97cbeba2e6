import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import RedisTokenPool

/// Answers an HTTP/1 connection's waiting assigns and event streams itself, so that no task holds
/// them while they wait or listen: such a request costs its connection a few hundred bytes, not a
/// task's frames.
///
/// A task keeps the slabs of its deepest async frames for as long as it lives. A waiting assign
/// answered in its connection's task kept the task at the depth of the route, the guard and
/// the pool's calls (31 KiB a waiter, of which 12.8 the bare connection); a listener likewise.
/// Here such a request never reaches the connection's task: this handler reads it whole, runs it
/// through the server's one responder (``APIResponder``: keys, rates, metrics, problem answers,
/// all as for any request) in a task that ends once the route has parked its wait
/// (``QueuedAssign/park(cancellation:done:)``) or its stream's feed (``EventsHub``) with a
/// callback, and writes the answer from the event loop when the wait ends or the feed delivers
/// (docs/scaling.md).
///
/// It sits after Hummingbird's connection state handler, which therefore sees the request and
/// its answer as any other: the idle timeout waits for the answer, and a server shutting down
/// closes the connection after it. It takes requests only until the connection hands one on to
/// its task, and then leaves the pipeline: every request it took was answered in order, and from
/// then on the connection is an ordinary one, which costs a request nothing here (its task
/// keeps the slabs of the requests it served, which a parked wait would save little of). What a
/// client sends while its request is answered here is held (up to ``heldLimit`` bytes, or the
/// connection is closed), and handed on once the answer ends.
final class ParkingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// What every connection's handler shares (one instance: a reference a connection).
    final class Configuration: Sendable {
        let responder: APIResponder<TokenRequestContext>
        let logger: Logger
        /// Request bodies larger than this are refused (the route answers 413); this keeps at
        /// most one read more.
        let maxBodySize: Int
        let serverName: String

        init(responder: APIResponder<TokenRequestContext>, logger: Logger, maxBodySize: Int, serverName: String) {
            (self.responder, self.logger, self.maxBodySize, self.serverName) = (responder, logger, maxBodySize, serverName)
        }
    }

    private enum State {
        /// Requests go on to the connection's task.
        case passing
        /// A request taken here is being read (its head in ``head``).
        case reading
        /// Request number `number` is answered here: `cancel` gives up its wait or its stream
        /// when the client leaves.
        case answering(number: UInt64, cancel: (@Sendable () -> Void)?)
    }

    private let configuration: Configuration
    private var state = State.passing
    private var head: HTTPRequest?
    private var body: ByteBuffer?
    /// The requests taken here so far.
    private var taken: UInt64 = 0
    /// What the client sent while a request was answered here (no storage until then), and its bytes.
    private var held: [HTTPRequestPart] = []
    private var heldBytes = 0
    /// A request was handed on to the connection's task: this handler leaves once what it
    /// holds is handed on too.
    private var handedOn = false
    /// Held parts are being handed on (this handler stays until the last).
    private var replaying = false
    private var departed = false

    init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// Whether `head` is taken here: a waiting assign (`POST .../tokens/assign` with `?wait=` or
    /// `Prefer`; one that does not wait after all is answered here just the same) or an event
    /// stream (`GET /events`, `GET /pools/{pool}/events`).
    static func takes(_ head: HTTPRequest) -> Bool {
        guard head.method == .get || head.method == .post, var path = head.path else { return false }
        let (post, prefers) = (head.method == .post, head.headerFields[.prefer] != nil)
        return path.withUTF8 { bytes in
            let query = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
            guard post else { return Self.route(bytes, query, endsWith: "/events") }
            guard Self.route(bytes, query, endsWith: "/tokens/assign") else { return false }
            if prefers { return true }
            // `wait=` among the query's parameters.
            var at = query
            while at < bytes.count {
                let start = at + 1
                at = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                if start + 5 <= at, Self.route(bytes, start + 5, endsWith: "wait=") { return true }
            }
            return false
        }
    }

    /// Whether `bytes[..<end]` ends with `suffix`.
    private static func route(_ bytes: UnsafeBufferPointer<UInt8>, _ end: Int, endsWith suffix: StaticString) -> Bool {
        let count = suffix.utf8CodeUnitCount
        guard end >= count else { return false }
        return memcmp(bytes.baseAddress! + end - count, suffix.utf8Start, count) == 0
    }

    /// What a client may send while its request is answered here before it is cut off: a
    /// largest body and a read more.
    var heldLimit: Int { self.configuration.maxBodySize + 65_536 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        switch self.state {
        case .passing:
            guard !self.handedOn, case .head(let head) = part, Self.takes(head) else {
                context.fireChannelRead(data)
                return self.handOn(context)
            }
            (self.state, self.head, self.body) = (.reading, head, context.channel.allocator.buffer(capacity: 0))
        case .reading:
            switch part {
            case .head:
                // The decoder ends a request before the next one's head: never here.
                context.close(promise: nil)
            case .body(var chunk):
                guard var body = self.body else { return }
                self.body = nil  // one owner while it grows
                if body.readableBytes <= self.configuration.maxBodySize { body.writeBuffer(&chunk) }
                self.body = body
            case .end:
                guard let head = self.head, let body = self.body else { return }
                self.taken += 1
                self.state = .answering(number: self.taken, cancel: nil)
                (self.head, self.body) = (nil, nil)
                self.answer(head, body: body, context: context)
            }
        case .answering:
            // Reads go on (so a client that leaves is noticed); a client that sends too much meanwhile is cut off.
            if case .body(let chunk) = part { self.heldBytes += chunk.readableBytes }
            self.held.append(part)
            if self.heldBytes > self.heldLimit { context.close(promise: nil) }
        }
    }

    /// A part went on to the connection's task: from its head on the task answers, so this
    /// handler leaves the pipeline (once nothing is held: those parts go on first).
    private func handOn(_ context: ChannelHandlerContext) {
        self.handedOn = true
        guard self.held.isEmpty, !self.replaying else { return }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { self.depart() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.depart()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Removed as the connection closes, or after handing a request on (nothing answered here then).
        self.depart()
    }

    /// The client left (its side closed, or the connection ended): a parked wait gives up its
    /// place, a parked stream its feed.
    private func depart() {
        self.departed = true
        if case .answering(let number, let cancel) = self.state {
            self.state = .answering(number: number, cancel: nil)
            cancel?()
        }
    }

    /// Request `number`, still answered, has parked what `cancel` gives up (at once if the
    /// client has left).
    func parked(_ number: UInt64, cancel: @escaping @Sendable () -> Void) {
        guard case .answering(number, _) = self.state else { return }
        if self.departed { return cancel() }
        self.state = .answering(number: number, cancel: cancel)
    }

    /// Runs the request through the responder in a task of its own, and writes its answer: at
    /// once, or when the wait the route parked ends; a stream's body as it is written, and on
    /// from its feed when the route parked it.
    private func answer(_ head: HTTPRequest, body: ByteBuffer, context: ChannelHandlerContext) {
        let number = self.taken
        let close = head.headerFields[.connection]?.lowercased() == "close"
        let channel = AnswerChannel(handler: self, context: context, number: number, close: close, serverName: self.configuration.serverName)
        // Only a stream (a GET) writes from its feed.
        let slot = ParkingSlot(channel: head.method == .get ? channel.stream : nil)
        let request = Request(head: head, body: RequestBody(buffer: body))
        var logger = self.configuration.logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
        var requestContext = TokenRequestContext(source: ApplicationRequestContextSource(channel: context.channel, logger: logger))
        requestContext.parking = slot
        let responder = self.configuration.responder
        Task {
            let response: Response
            do {
                response = try await responder.respond(to: request, context: requestContext)
            } catch {
                // The responder answers every error itself; this is Hummingbird's fallback.
                response = Response(status: .internalServerError)
            }
            if let place = slot.takePlace() {
                let cancellation = WaitCancellation()
                channel.parked(cancel: { cancellation.cancel() })
                place.park(cancellation: cancellation) { outcome in
                    await channel.send(slot.answer(outcome), slot: nil)
                }
            } else {
                await channel.send(response, slot: slot)
            }
        }
    }

    /// Writes parts of request `number`'s answer (nothing once the connection closed), flushed
    /// at once unless `flush` is false; `promise` completes with the last. An `.end` ends the
    /// answer, then hands on what the client sent meanwhile.
    func write(
        _ parts: [HTTPResponsePart], of number: UInt64, close: Bool, flush: Bool, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext
    ) {
        let ends = parts.last.map { if case .end = $0 { true } else { false } } ?? false
        guard case .answering(number, _) = self.state, context.channel.isActive else {
            if case .answering(number, _) = self.state, ends { (self.state, self.held) = (.passing, []) }
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        for (index, part) in parts.enumerated() {
            context.write(self.wrapOutboundOut(part), promise: index == parts.count - 1 ? promise : nil)
        }
        if flush { context.flush() }
        guard ends else { return }
        self.state = .passing
        guard !close else { return context.close(promise: nil) }
        guard !self.held.isEmpty else { return }
        // Until all is handed on, or a request among it is taken here in turn.
        let held = self.held
        (self.held, self.heldBytes, self.replaying) = ([], 0, true)
        defer { self.replaying = false }
        for (index, part) in held.enumerated() {
            if case .answering = self.state {
                self.held = Array(held[index...])
                self.heldBytes = self.held.reduce(0) { if case .body(let chunk) = $1 { $0 + chunk.readableBytes } else { $0 } }
                break
            }
            self.channelRead(context: context, data: NIOAny(part))
        }
        // The connection's task reads what a read delivered once the read completes.
        context.fireChannelReadComplete()
        if self.handedOn, self.held.isEmpty { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
    }
}
