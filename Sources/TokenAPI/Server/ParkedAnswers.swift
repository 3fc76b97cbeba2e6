import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import RedisTokenPool

/// Where a task or a feed writes the answer of a request taken by ``ParkingHandler``: each part
/// on the connection's event loop.
struct AnswerChannel: Sendable {
    let bound: NIOLoopBound<(handler: ParkingHandler, context: ChannelHandlerContext)>
    let loop: any EventLoop
    let number: UInt64
    let close: Bool
    /// `Server`, made once a server.
    let server: HTTPField

    init(handler: ParkingHandler, context: ChannelHandlerContext, number: UInt64, close: Bool, server: HTTPField) {
        self.bound = NIOLoopBound((handler, context), eventLoop: context.eventLoop)
        (self.loop, self.number, self.close, self.server) = (context.eventLoop, number, close, server)
    }

    /// Writes `parts` (flushed unless `flush` is false); the promise (if any) completes once they
    /// are written. At once from the loop, where the request's task runs (``EventLoopExecutor``);
    /// from elsewhere (a wait's or a feed's callback) by the loop.
    func write(_ parts: [HTTPResponsePart], flush: Bool = true, promise: EventLoopPromise<Void>? = nil) {
        let (bound, number, close) = (self.bound, self.number, self.close)
        @Sendable func deliver() {
            bound.value.handler.write(parts, of: number, close: close, flush: flush, promise: promise, context: bound.value.context)
        }
        if self.loop.inEventLoop { return deliver() }
        self.loop.execute(deliver)
    }

    /// Writes one body buffer; the future completes once it is written.
    func write(_ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let promise = self.loop.makePromise(of: Void.self)
        self.write([.body(buffer)], promise: promise)
        return promise.futureResult
    }

    func parked(cancel: @escaping @Sendable () -> Void) {
        let (bound, number) = (self.bound, self.number)
        self.loop.execute { bound.value.handler.parked(number, cancel: cancel) }
    }

    /// A parked stream's writes: each buffer, `written` once it is; its end.
    var stream: ParkingSlot.Channel {
        ParkingSlot.Channel(
            write: { buffer, written in self.write(buffer).whenSuccess { written() } },
            end: { self.write([.end(nil)]) }
        )
    }

    /// Writes `response`: its head with the headers Hummingbird's application adds (`Date`,
    /// `Server`), its body, its end, unless the route parked the stream in `slot` (its feed ends
    /// it). A body of known length goes in one write with its head and end: one segment, where
    /// three flushes would be three that Nagle's algorithm holds apart on the client's ACKs.
    nonisolated(nonsending) func send(_ response: Response, slot: ParkingSlot?) async {
        var head = response.head
        // No route sets either: appended as they are, not checked again.
        head.headerFields.append(Self.dateField())
        head.headerFields.append(self.server)
        if response.body.contentLength != nil {
            let collector = BodyCollector(head: head)
            try? await response.body.write(collector)
            collector.parts.append(.end(nil))
            return self.write(collector.parts)
        }
        // A stream: its head goes with its first write.
        self.write([.head(head)], flush: false)
        let writer = BodyWriter(channel: self)
        do {
            try await response.body.write(writer)
        } catch {
            // The client left while the body was written: the connection is closing.
            return self.write([.end(nil)])
        }
        if let cancel = slot?.parkedStream {
            self.parked(cancel: cancel)
        } else if !writer.finished.withLockedValue({ $0 }) {
            self.write([.end(nil)])
        }
    }

    /// This second's `Date`, made once a second (as Hummingbird's is): a `strftime` an answer cost
    /// it some 3,000 instructions.
    static func dateField() -> HTTPField {
        let now = time(nil)
        return Self.lastDate.withLockedValue { last in
            if let last, last.second == now { return last.field }
            let field = HTTPField(name: .date, value: Self.date(now))
            last = (now, field)
            return field
        }
    }

    private static let lastDate = NIOLockedValueBox<(second: time_t, field: HTTPField)?>(nil)

    /// `Date` as RFC 9110 spells it: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func date(_ second: time_t = time(nil)) -> String {
        var time = second
        var parts = tm()
        gmtime_r(&time, &parts)
        var text = [CChar](repeating: 0, count: 32)
        let count = strftime(&text, text.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: text[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The parts of an answer whose body has a known length: its head, then the buffers the body
/// writes (one, or none). The body writes them one after another in the task that sends the
/// answer, which reads them after: no lock.
private final class BodyCollector: ResponseBodyWriter, @unchecked Sendable {
    var parts: [HTTPResponsePart]

    init(head: HTTPResponse) {
        // Room for the head, one body buffer and the end, made once.
        self.parts = []
        self.parts.reserveCapacity(3)
        self.parts.append(.head(head))
    }

    func write(_ buffer: ByteBuffer) async throws {
        self.parts.append(.body(buffer))
    }

    func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
        for buffer in buffers { self.parts.append(.body(buffer)) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

/// A response body's writes, each awaited until it is written (a stream that the client does not
/// read waits, as in the connection's task).
private struct BodyWriter: ResponseBodyWriter {
    let channel: AnswerChannel
    let finished = NIOLockedValueBox(false)

    func write(_ buffer: ByteBuffer) async throws {
        try await self.channel.write(buffer).get()
    }

    func write(contentsOf buffers: some Sequence<ByteBuffer>) async throws {
        for buffer in buffers { try await self.write(buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        self.finished.withLockedValue { $0 = true }
        self.channel.write([.end(trailingHeaders)])
    }
}

/// Where the route of a request taken by ``ParkingHandler`` parks what would wait: a waiting
/// assign its place in the queue (and ``APIResponder`` how the wait's outcome becomes the answer:
/// its problem answers and metrics, counted when the answer is written); an event stream its
/// feed, which writes to ``channel``.
final class ParkingSlot: Sendable {
    /// A parked stream's connection: `write` a buffer (`written` is called once it is), `end` the stream.
    struct Channel: Sendable {
        let write: @Sendable (ByteBuffer, _ written: @escaping @Sendable () -> Void) -> Void
        let end: @Sendable () -> Void
    }

    /// Where a stream would write: only a GET's (``channel`` makes its closures when a route asks).
    private let answers: AnswerChannel?

    init(answers: AnswerChannel?) {
        self.answers = answers
    }

    /// A parked stream's connection, for a GET.
    var channel: Channel? { self.answers?.stream }

    private struct State {
        /// The wait's place in the queue, until the handler parks it in the waiting room.
        var place: QueuedAssign?
        var answer: (@Sendable (Result<[TokenRecord], any Error>) throws -> JSONResponse)?
        var finish: (@Sendable (() throws -> JSONResponse) -> Response)?
        var parkedStream: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    /// Whether the route parked a wait.
    var waits: Bool { self.state.withLockedValue { $0.answer != nil } }

    /// The route parks `place`; `answer` is its answer to the tokens, or to the wait's error.
    func park(_ place: QueuedAssign, answer: @escaping @Sendable (Result<[TokenRecord], any Error>) throws -> JSONResponse) {
        self.state.withLockedValue { ($0.place, $0.answer) = (place, answer) }
    }

    /// The place the route parked, handed over once (the slot keeps only how to answer).
    func takePlace() -> QueuedAssign? {
        self.state.withLockedValue { state in
            defer { state.place = nil }
            return state.place
        }
    }

    /// The route's stream goes on from its feed; `cancel` ends it (the client left).
    func parkStream(cancel: @escaping @Sendable () -> Void) {
        self.state.withLockedValue { $0.parkedStream = cancel }
    }

    /// What ends the stream the route parked, if it did.
    var parkedStream: (@Sendable () -> Void)? { self.state.withLockedValue { $0.parkedStream } }

    /// The responder says how the route's answer becomes the response.
    func finish(with finish: @escaping @Sendable (() throws -> JSONResponse) -> Response) {
        self.state.withLockedValue { $0.finish = finish }
    }

    /// The response to the wait's outcome.
    func answer(_ outcome: Result<[TokenRecord], any Error>) -> Response {
        let (answer, finish) = self.state.withLockedValue { ($0.answer, $0.finish) }
        guard let answer, let finish else { return Response(status: .internalServerError) }
        return finish { try answer(outcome) }
    }
}
