import DequeModule
import NIOCore

/// A command on its way to Redis and the promise its reply completes.
struct RedisRequest: Sendable {
    var arguments: [String]
    var promise: EventLoopPromise<RESPValue>
}

/// Matches replies to commands in FIFO order, so many commands can be in flight on one
/// connection (pipelining).
///
/// Writes are flushed once per event-loop tick, so commands sent together leave in one
/// syscall. If the oldest command waits longer than `timeout`, every waiting command fails
/// with ``RedisClientError/timeout`` and the connection closes: a late reply could no longer
/// be matched safely. On close or error every waiting command fails.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = [String]

    private struct Waiting {
        var promise: EventLoopPromise<RESPValue>
        var deadline: NIODeadline
    }

    private let timeout: TimeAmount
    private var waiting: Deque<Waiting> = []
    private var flushScheduled = false
    private var timeoutCheck: RepeatedTask?
    private var failure: RedisClientError?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let interval = TimeAmount.nanoseconds(max(10_000_000, self.timeout.nanoseconds / 10))
        self.timeoutCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            handler.checkTimeouts(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timeoutCheck?.cancel()
        self.failAll(.connectionClosed)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        if let failure = self.failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        self.waiting.append(Waiting(promise: request.promise, deadline: context.eventLoop.now + self.timeout))
        context.write(Self.wrapOutboundOut(request.arguments), promise: promise)
        if !self.flushScheduled {
            self.flushScheduled = true
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.flushScheduled = false
                context.flush()
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        // Flushed once per tick by `write`, so commands sent together share one syscall.
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = Self.unwrapInboundIn(data)
        guard let first = self.waiting.popFirst() else {
            self.fail(context: context, .unexpectedReply("a reply that no command asked for"))
            return
        }
        first.promise.succeed(reply)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context: context, error as? RedisClientError ?? .connectionClosed)
    }

    private func checkTimeouts(context: ChannelHandlerContext) {
        if let oldest = self.waiting.first, oldest.deadline < context.eventLoop.now {
            self.fail(context: context, .timeout)
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: RedisClientError) {
        self.failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisClientError) {
        if self.failure == nil { self.failure = error }
        while let next = self.waiting.popFirst() {
            next.promise.fail(error)
        }
    }
}
