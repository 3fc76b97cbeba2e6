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
        /// Serving. `armedAt`: when the one timer is set to fire, if it is. It is moved earlier
        /// for a command whose deadline comes sooner (commands do not reach the connection in
        /// the order of their deadlines: one that waited for a connection comes after younger
        /// ones), and otherwise re-armed only when it fires.
        case active(pending: Deque<Pending>, armedAt: NIODeadline?)
        /// Closed or failing: every command is refused with this error.
        case failed(RedisClientError)
        /// Only while a transition changes the pending commands: with the state's own reference
        /// to them gone, the queue is unique and changes in place instead of being copied.
        case modifying
    }

    private var state: State = .active(pending: [], armedAt: nil)
    /// A subscriber's connection: a reply no command asked for is a pushed message, not an error.
    private let acceptsPushes: Bool

    init(acceptsPushes: Bool = false) {
        self.acceptsPushes = acceptsPushes
    }

    enum WriteAction {
        /// Send the command; arm the timer at this deadline (in place of the one set) if one is given.
        case write(armTimerAt: NIODeadline?)
        /// Refuse the command: the connection no longer serves, or the command is already late.
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

    /// - Parameter now: read only when the command would move the timer: a command already past
    ///   its deadline (it waited for a connection, or for an earlier step of its call) fails
    ///   alone instead of timing out every command on the connection.
    mutating func write(_ promise: Promise, deadline: NIODeadline, now: () -> NIODeadline) -> WriteAction {
        switch self.state {
        case .failed(let error):
            return .fail(error)
        case .active(var pending, let armedAt):
            // A timer set a little later is good enough: not one re-arm per command for the few
            // microseconds by which concurrent commands overtake each other.
            let moves = armedAt.map { deadline + Self.tolerance < $0 } ?? true
            if moves, deadline <= now() { return .fail(.timeout) }
            self.state = .modifying
            pending.append(Pending(promise: promise, deadline: deadline))
            self.state = .active(pending: pending, armedAt: moves ? deadline : armedAt)
            return .write(armTimerAt: moves ? deadline : nil)
        case .modifying:
            preconditionFailure("RedisCommandStateMachine is modifying: a transition re-entered")
        }
    }

    mutating func replyReceived() -> ReadAction {
        switch self.state {
        case .failed(let error):
            return .failAllAndClose([], error)
        case .active(var pending, let armedAt):
            self.state = .modifying
            guard let first = pending.popFirst() else {
                self.state = .active(pending: pending, armedAt: armedAt)
                if self.acceptsPushes { return .push }
                let error = RedisClientError.unexpectedReply("a reply that no command asked for")
                return .failAllAndClose(self.fail(error), error)
            }
            self.state = .active(pending: pending, armedAt: armedAt)
            return .succeed(first.promise)
        case .modifying:
            preconditionFailure("RedisCommandStateMachine is modifying: a transition re-entered")
        }
    }

    /// The timer fired (at most ``tolerance`` after the earliest deadline it was set for). Every
    /// command in flight is looked at: this runs about once a command timeout, not per command.
    mutating func timerFired(now: NIODeadline) -> TimerAction {
        guard case .active(let pending, _) = self.state else { return .none }
        guard let earliest = pending.lazy.map(\.deadline).min() else {
            self.state = .active(pending: pending, armedAt: nil)
            return .none
        }
        if earliest <= now {
            return .failAllAndClose(self.fail(.timeout), .timeout)
        }
        self.state = .active(pending: pending, armedAt: earliest)
        return .arm(earliest)
    }

    /// How late past its deadline a command may fail: the timer is not moved for less.
    static var tolerance: TimeAmount { .milliseconds(5) }

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
