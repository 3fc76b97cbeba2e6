import NIOCore

/// Where a command's reply goes; completed exactly once, on the connection's event loop.
enum ReplyTarget: Sendable {
    /// The task that sent the command, resumed directly: no future and no callback to allocate
    /// for the one command a request makes.
    case task(UnsafeContinuation<RESPValue, any Error>)
    /// A promise: commands sent back to back, whose replies are awaited one after another.
    case promise(EventLoopPromise<RESPValue>)

    func succeed(_ reply: RESPValue) {
        switch self {
        case .task(let continuation): continuation.resume(returning: reply)
        case .promise(let promise): promise.succeed(reply)
        }
    }

    func fail(_ error: any Error) {
        switch self {
        case .task(let continuation): continuation.resume(throwing: error)
        case .promise(let promise): promise.fail(error)
        }
    }
}

/// A command on its way to Redis, already written as RESP, where its reply goes, and its
/// deadline.
struct RedisRequest: Sendable {
    var command: ByteBuffer
    var reply: ReplyTarget
    var deadline: NIODeadline

    init(command: ByteBuffer, reply: ReplyTarget, deadline: NIODeadline) {
        self.command = command
        self.reply = reply
        self.deadline = deadline
    }

    /// Writes `arguments` as RESP (``RESPEncoder``) on the caller's thread, before the command
    /// reaches the event loop.
    init(arguments: [String], promise: EventLoopPromise<RESPValue>, deadline: NIODeadline, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.init(command: RESPEncoder.command(arguments, allocator: allocator), reply: .promise(promise), deadline: deadline)
    }
}

/// Matches replies to commands in FIFO order, so many commands can be in flight on one
/// connection (pipelining). The rules live in ``RedisCommandStateMachine``; this performs them.
///
/// It is the connection's whole pipeline past TLS: commands arrive written (``RedisRequest``),
/// and the bytes read go straight to a hiredis reader, whose replies complete the commands in
/// order. (Separate encoder and decoder handlers boxed every command and reply once more on
/// their way through the pipeline.)
///
/// Writes are flushed once per event-loop tick, so commands sent together leave in one
/// syscall. One timer watches the earliest deadline of the commands in flight: past it, every
/// waiting command fails with ``RedisClientError/timeout`` and the connection closes, as a late
/// reply could no longer be matched safely. On close or error every waiting command fails.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var state: RedisCommandStateMachine<ReplyTarget>
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private let onPush: (@Sendable (RESPValue) -> Void)?
    private let reader = HiredisReader()

    /// - Parameter onPush: for a subscriber's connection: receives every pushed message.
    init(onPush: (@Sendable (RESPValue) -> Void)? = nil) {
        self.onPush = onPush
        self.state = RedisCommandStateMachine(acceptsPushes: onPush != nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.state.fail(.connectionClosed).forEach { $0.fail(RedisClientError.connectionClosed) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        switch self.state.write(request.reply, deadline: request.deadline, now: { context.eventLoop.now }) {
        case .fail(let error):
            request.reply.fail(error)
            promise?.fail(error)
            return
        case .write(let armTimerAt):
            if let armTimerAt { self.arm(at: armTimerAt, context: context) }
        }
        context.write(Self.wrapOutboundOut(request.command), promise: promise)
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
        let bytes = Self.unwrapInboundIn(data)
        do throws(RedisClientError) {
            try self.feed(bytes)
            // The reader holds every byte now: complete every reply it can make.
            while let reply = try self.reader.nextReply() {
                switch self.state.replyReceived() {
                case .succeed(let target):
                    target.succeed(reply)
                case .push:
                    self.onPush?(reply)
                case .failAllAndClose(let targets, let error):
                    return self.failAndClose(targets, error, context: context)
                }
            }
        } catch {
            self.failAndClose(self.state.fail(error), error, context: context)
        }
    }

    private func feed(_ bytes: ByteBuffer) throws(RedisClientError) {
        let failure = bytes.withUnsafeReadableBytes { raw -> RedisClientError? in
            do throws(RedisClientError) {
                try self.reader.feed(raw)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state.fail(.connectionClosed).forEach { $0.fail(RedisClientError.connectionClosed) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let error = error as? RedisClientError ?? .connectionClosed
        self.failAndClose(self.state.fail(error), error, context: context)
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        self.timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            switch handler.state.timerFired(now: context.eventLoop.now) {
            case .none: break
            case .arm(let next): handler.arm(at: next, context: context)
            case .failAllAndClose(let promises, let error): handler.failAndClose(promises, error, context: context)
            }
        }
    }

    private func failAndClose(_ targets: [ReplyTarget], _ error: RedisClientError, context: ChannelHandlerContext) {
        targets.forEach { $0.fail(error) }
        context.close(promise: nil)
    }
}
