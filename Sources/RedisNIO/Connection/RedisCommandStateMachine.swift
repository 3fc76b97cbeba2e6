import DequeModule
import NIOCore

/// The state of one connection's command handler: the commands in flight, in the order their
/// replies will come, and whether the connection still serves. Each transition returns what
/// the handler must do, so the rules are tested without a channel.
///
/// Generic over the promise so tests can use plain values.
struct RedisCommandStateMachine<Promise> {
    struct Pending {
        var promise: Promise
        var deadline: NIODeadline
    }

    private enum State {
        /// Serving. `timerArmed`: one timer is scheduled, for the deadline of the command that
        /// was oldest when it was set; it is re-armed only when it fires.
        case active(pending: Deque<Pending>, timerArmed: Bool)
        /// Closed or failing: every command is refused with this error.
        case failed(RedisClientError)
        /// Only while a transition changes the pending commands: with the state's own reference
        /// to them gone, the queue is unique and changes in place instead of being copied.
        case modifying
    }

    private var state: State = .active(pending: [], timerArmed: false)
    /// A subscriber's connection: a reply no command asked for is a pushed message, not an error.
    private let acceptsPushes: Bool

    init(acceptsPushes: Bool = false) {
        self.acceptsPushes = acceptsPushes
    }

    enum WriteAction {
        /// Send the command; arm the timer at this deadline if one is given.
        case write(armTimerAt: NIODeadline?)
        /// Refuse the command: the connection no longer serves.
        case fail(RedisClientError)
    }

    enum ReadAction {
        case succeed(Promise)
        /// A message pushed to a subscriber.
        case push
        /// A reply nobody asked for: the stream can no longer be trusted.
        case failAllAndClose([Promise], RedisClientError)
    }

    enum TimerAction {
        case none
        case arm(NIODeadline)
        /// The oldest command is past its deadline: Redis is stalled, or the link is.
        case failAllAndClose([Promise], RedisClientError)
    }

    mutating func write(_ promise: Promise, deadline: NIODeadline) -> WriteAction {
        switch self.state {
        case .failed(let error):
            return .fail(error)
        case .active(var pending, let timerArmed):
            self.state = .modifying
            pending.append(Pending(promise: promise, deadline: deadline))
            self.state = .active(pending: pending, timerArmed: true)
            return .write(armTimerAt: timerArmed ? nil : deadline)
        case .modifying:
            preconditionFailure("RedisCommandStateMachine is modifying: a transition re-entered")
        }
    }

    mutating func replyReceived() -> ReadAction {
        switch self.state {
        case .failed(let error):
            return .failAllAndClose([], error)
        case .active(var pending, let timerArmed):
            self.state = .modifying
            guard let first = pending.popFirst() else {
                self.state = .active(pending: pending, timerArmed: timerArmed)
                if self.acceptsPushes { return .push }
                let error = RedisClientError.unexpectedReply("a reply that no command asked for")
                return .failAllAndClose(self.fail(error), error)
            }
            self.state = .active(pending: pending, timerArmed: timerArmed)
            return .succeed(first.promise)
        case .modifying:
            preconditionFailure("RedisCommandStateMachine is modifying: a transition re-entered")
        }
    }

    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard case .active(let pending, _) = self.state else { return .none }
        guard let oldest = pending.first else {
            self.state = .active(pending: pending, timerArmed: false)
            return .none
        }
        if oldest.deadline <= now {
            return .failAllAndClose(self.fail(.timeout), .timeout)
        }
        self.state = .active(pending: pending, timerArmed: true)
        return .arm(oldest.deadline)
    }

    /// The connection failed or closed: every command in flight fails, later ones are refused.
    mutating func fail(_ error: RedisClientError) -> [Promise] {
        switch self.state {
        case .failed:
            return []
        case .modifying:
            preconditionFailure("RedisCommandStateMachine is modifying: a transition re-entered")
        case .active(let pending, _):
            self.state = .failed(error)
            return pending.map(\.promise)
        }
    }

    var inFlight: Int {
        if case .active(let pending, _) = self.state { return pending.count }
        return 0
    }
}
