import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import RedisTokenPool

/// Answers every request of an HTTP/1 connection without TLS itself, each in a short task of its
/// own, so that no task holds a request while it waits, listens or sits between requests: a
/// waiting assign or a stream costs its connection a few hundred bytes, not a task's frames,
/// and an idle connection keeps no request's.
///
/// A task keeps the slabs of its deepest async frames for as long as it lives. A request answered
/// in its connection's task kept that task at the depth of the route, the guard and the pool's
/// calls for as long as the connection lived (25.8 KiB an idle connection after an assign, 31 a
/// waiter, of which 12.8 the bare connection); and Hummingbird's connection loop, generic code
/// over NIO's async channel that is not specialised for ours, cost a request some 28,000
/// instructions of look-ups of generic metadata (docs/scaling.md, docs/profile.md). Here a request
/// never reaches the connection's task, which only waits for the connection to end: this handler
/// reads it whole, runs it through the server's one responder (``APIResponder``: keys, rates,
/// metrics, problem answers, all as over TLS or HTTP/2, which Hummingbird's tasks still answer)
/// in a task on the connection's event loop (``EventLoopExecutor``), started at once in the read
/// that ended the request, that ends once the route has answered, or has parked its wait
/// (``QueuedAssign/park(cancellation:done:)``) or its stream's feed (``EventsHub``) with a
/// callback, and writes the answer from the event loop.
///
/// It keeps what Hummingbird's connection state handler, which it replaces on these connections
/// (``DetachedConnections``), kept: the idle timeout, which never cuts an answer (a wait, a
/// stream) and counts from the last read or the last answer's end, and the shutdown's close, at
/// once for an idle connection and after the answer being written for a busy one. Pipelined
/// requests are answered in order: what a client sends while its request is answered is held
/// (up to ``heldLimit`` bytes, or the connection is closed) and read once the answer ends.
final class ParkingHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    /// What reaches it from behind: Hummingbird's connection task answers a request the decoder
    /// could not read with a 400 (its own writes go straight ahead, as bytes).
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = IOData

    /// What every connection's handler shares (one instance: a reference a connection).
    final class Configuration: Sendable {
        let responder: APIResponder<TokenRequestContext>
        /// Each request's logger, with its `hb.request.id`.
        let loggers: RequestLoggers
        /// Request bodies larger than this are refused (the route answers 413); this keeps at
        /// most one read more.
        let maxBodySize: Int
        /// Each answer's `Server`.
        let server: HTTPField
        /// How long a connection may sit without a request being read or answered (nil: for ever).
        let idleTimeout: TimeAmount?
        /// What the request decoder allows (Hummingbird's, from its HTTP/1 configuration).
        let decoderLimits: NIOHTTPDecoderLimitConfiguration

        init(
            responder: APIResponder<TokenRequestContext>, logger: Logger, maxBodySize: Int, serverName: String,
            http1: HTTP1Channel.Configuration
        ) {
            (self.responder, self.loggers, self.maxBodySize) = (responder, RequestLoggers(logger), maxBodySize)
            self.server = HTTPField(name: .server, value: serverName)
            self.idleTimeout = http1.idleTimeout
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            self.decoderLimits = limits
        }
    }

    private enum State {
        /// Between requests.
        case idle
        /// A request is being read (its head in ``head``).
        case reading
        /// Request number `number` is answered: `cancel` gives up its wait or its stream when the
        /// client leaves.
        case answering(number: UInt64, cancel: (@Sendable () -> Void)?)
    }

    private let configuration: Configuration
    /// What the requests read are as HTTP types, and the answers as bytes.
    private var codec = HTTP1Codec()
    private var state = State.idle
    private var head: HTTPRequest?
    private var body: ByteBuffer?
    /// The requests read so far.
    private var taken: UInt64 = 0
    /// What the client sent while a request was answered (no storage until then), and its bytes.
    private var held: [HTTPRequestPart] = []
    private var heldBytes = 0
    private var departed = false
    /// When a request's part was last read or an answer last ended (the idle timeout counts from it).
    private var lastActive = NIODeadline.now()
    /// The idle timeout's next look, while one is scheduled.
    private var idleCheck: Scheduled<Void>?
    /// The server is shutting down: close once the answer being written ends.
    private var closesAfterAnswer = false

    init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    /// The connection's loop as a task executor, made on its first request.
    private var loopExecutor: EventLoopExecutor?

    private func executor(_ loop: any EventLoop) -> EventLoopExecutor {
        if let loopExecutor { return loopExecutor }
        let made = EventLoopExecutor(loop)
        self.loopExecutor = made
        return made
    }

    /// What a client may send while its request is answered here before it is cut off: a
    /// largest body and a read more.
    var heldLimit: Int { self.configuration.maxBodySize + 65_536 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: HTTPRequestPart
        do {
            part = try self.codec.decode(self.unwrapInboundIn(data))
        } catch {
            return context.fireErrorCaught(error)
        }
        self.read(part, context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.write(self.unwrapOutboundIn(data), promise: promise, context: context)
    }

    /// An answer's part as its bytes (``HTTP1Codec``), written with `promise`: a part that writes
    /// nothing only to keep a promise in order, a body where the answer has none failing it.
    private func write(_ part: HTTPResponsePart, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        do {
            let bytes = try self.codec.encode(part, allocator: context.channel.allocator)
            if bytes.readableBytes > 0 || promise != nil { context.write(self.wrapOutboundOut(.byteBuffer(bytes)), promise: promise) }
        } catch {
            promise?.fail(error)
        }
    }

    private func read(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        self.lastActive = .now()
        switch self.state {
        case .idle:
            // The decoder starts every request with its head.
            guard case .head(let head) = part else { return context.close(promise: nil) }
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

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // The server shuts down: an idle connection closes now, a busy one after its answer.
            guard case .idle = self.state else { return self.closesAfterAnswer = true }
            return context.close(promise: nil)
        }
        if case .some(.inputClosed) = event as? ChannelEvent { self.depart() }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.becameIdle(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.becameIdle(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.depart()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Removed as the connection closes.
        self.idleCheck?.cancel()
        self.idleCheck = nil
        self.depart()
    }

    /// The idle timeout counts from now: a look at it is scheduled unless one is (a busy
    /// connection schedules one a timeout, not one a request).
    private func becameIdle(context: ChannelHandlerContext) {
        self.lastActive = .now()
        guard let timeout = self.configuration.idleTimeout, self.idleCheck == nil else { return }
        self.scheduleIdleCheck(at: self.lastActive + timeout, context: context)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.idleCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.idleCheck = nil
            guard let timeout = self.configuration.idleTimeout, context.channel.isActive else { return }
            switch self.state {
            case .answering:
                // Never cut an answer (a waiting assign, a stream): its end looks again.
                return
            case .idle, .reading:
                let due = self.lastActive + timeout
                if NIODeadline.now() >= due { return context.close(promise: nil) }
                self.scheduleIdleCheck(at: due, context: context)
            }
        }
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
        let close = head.headerFields.firstValue(.connection)?.lowercased() == "close"
        let channel = AnswerChannel(handler: self, context: context, number: number, close: close, server: self.configuration.server)
        // Only a stream (a GET) writes from its feed.
        let slot = ParkingSlot(answers: head.method == .get ? channel : nil)
        let request = Request(head: head, body: RequestBody(buffer: body))
        let logger = self.configuration.loggers.next()
        var made = TokenRequestContext(source: ApplicationRequestContextSource(channel: context.channel, logger: logger))
        made.parking = slot
        let (responder, requestContext) = (self.configuration.responder, made)
        @Sendable func run() async {
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
        let executor = self.executor(context.eventLoop)
        if #available(macOS 26.0, *) {
            // Started at once, here on the loop, until it first waits (for Redis, mostly), not
            // queued to start on the loop's next turn (2,000 instructions a request); it goes on
            // on the loop when it resumes.
            Task.immediate(executorPreference: executor, operation: run)
        } else {
            Task(executorPreference: executor, operation: run)
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
            if case .answering(number, _) = self.state, ends { (self.state, self.held) = (.idle, []) }
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        for (index, part) in parts.enumerated() {
            self.write(part, promise: index == parts.count - 1 ? promise : nil, context: context)
        }
        if flush { context.flush() }
        guard ends else { return }
        self.state = .idle
        guard !close, !self.closesAfterAnswer else { return context.close(promise: nil) }
        self.becameIdle(context: context)
        // What the client sent meanwhile, until a request among it is answered in turn.
        let held = self.held
        (self.held, self.heldBytes) = ([], 0)
        for (index, part) in held.enumerated() {
            if case .answering = self.state {
                self.held = Array(held[index...])
                self.heldBytes = self.held.reduce(0) { if case .body(let chunk) = $1 { $0 + chunk.readableBytes } else { $0 } }
                break
            }
            self.read(part, context: context)
        }
    }
}
