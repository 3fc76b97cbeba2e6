import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisNIO
import RedisTokenPool

/// A stream entry's id, `MS-SEQ`, in the stream's order.
struct StreamID: Comparable, Sendable, CustomStringConvertible {
    var milliseconds: UInt64
    var sequence: UInt64

    init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 20 }), let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else {
            return nil
        }
        (self.milliseconds, self.sequence) = (ms, seq)
    }

    var description: String { "\(self.milliseconds)-\(self.sequence)" }

    static func < (a: Self, b: Self) -> Bool { (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence) }
}

/// The events of every pool that has listeners on this replica, read once per pool and shared.
///
/// One reader task per pool (an `XRANGE` after the last id it read, every ``interval``) serves
/// every listener of that pool here, so Redis sees the same commands for one listener or ten
/// thousand. Each event is encoded once; listeners share its bytes. A listener that falls
/// ``maxBacklog`` events behind (a client that stopped reading) is sent `event: reconnect` and
/// dropped: it comes back with `Last-Event-ID`, and the hub never holds an unbounded backlog.
final class EventsHub: Sendable {
    /// What a listener is handed: encoded events in order, a heartbeat, or a last word.
    enum Delivery: Sendable {
        case events([Encoded])
        case quiet
        case reconnect
    }

    struct Encoded: Sendable {
        let id: StreamID
        let bytes: ByteBuffer
    }

    /// One listener's place: what it has been sent, and how many events it has not taken yet.
    private struct Listener {
        let continuation: AsyncStream<Delivery>.Continuation
        let pending: NIOLockedValueBox<Int>
        var last: StreamID
    }

    private struct Feed {
        var last: StreamID
        var listeners: [UInt64: Listener] = [:]
        /// The events read lately, oldest first (at most ``recentKept``): a listener that joins
        /// behind the feed is sent what it missed from here...
        var recent: [Encoded] = []
        /// ... if it has been sent everything up to this id (`recent` holds all that came after).
        var coveredFrom: StreamID

        init(last: StreamID, listeners: [UInt64: Listener]) {
            (self.last, self.listeners, self.coveredFrom) = (last, listeners, last)
        }
    }

    private struct State {
        var feeds: [PoolName: Feed] = [:]
        var nextID: UInt64 = 0
    }

    let pool: TokenPool
    let interval: Duration
    let heartbeat: Duration
    let maxBacklog: Int
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private static let recentKept = 1_000
    private static let batch = 200

    init(pool: TokenPool, interval: Duration = .milliseconds(250), heartbeat: Duration = .seconds(5), maxBacklog: Int = 1_000, logger: Logger) {
        (self.pool, self.interval, self.heartbeat, self.maxBacklog, self.logger) = (pool, interval, heartbeat, maxBacklog, logger)
    }

    /// A listener of `name` that has been sent everything up to `last`: its deliveries, and a
    /// handle that ends them. `nil` when the feed has already moved past what it still holds
    /// (read on from `last` yourself, then ask again).
    func subscribe(to name: PoolName, after last: StreamID) -> (AsyncStream<Delivery>, Subscription)? {
        let (stream, continuation) = AsyncStream.makeStream(of: Delivery.self)
        let pending = NIOLockedValueBox(0)
        let (id, startsFeed, accepted): (UInt64, Bool, Bool) = self.state.withLockedValue { state in
            let id = state.nextID
            state.nextID += 1
            var listener = Listener(continuation: continuation, pending: pending, last: last)
            guard var feed = state.feeds[name] else {
                state.feeds[name] = Feed(last: last, listeners: [id: listener])
                return (id, true, true)
            }
            if last < feed.last {
                // Behind the feed: what it missed must still be in `recent`.
                guard last >= feed.coveredFrom else { return (id, false, false) }
                let missed = feed.recent.filter { $0.id > last }
                if !missed.isEmpty {
                    pending.withLockedValue { $0 += missed.count }
                    continuation.yield(.events(missed))
                    listener.last = missed[missed.count - 1].id
                }
            }
            feed.listeners[id] = listener
            state.feeds[name] = feed
            return (id, false, true)
        }
        guard accepted else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id, from: name) }
        if startsFeed {
            Task { await self.read(name) }
        }
        return (stream, Subscription(pending: pending, end: { [weak self] in self?.unsubscribe(id, from: name, finishing: true) }))
    }

    /// What a listener holds to say it took a delivery, or to end its subscription.
    struct Subscription: Sendable {
        fileprivate let pending: NIOLockedValueBox<Int>
        fileprivate let end: @Sendable () -> Void

        func took(_ delivery: Delivery) {
            if case .events(let events) = delivery { self.pending.withLockedValue { $0 -= events.count } }
        }

        func cancel() { self.end() }
    }

    /// How many pools are read, and how many listeners are served (the tests read it).
    var counts: (feeds: Int, listeners: Int) {
        self.state.withLockedValue { state in (state.feeds.count, state.feeds.values.reduce(0) { $0 + $1.listeners.count }) }
    }

    private func unsubscribe(_ id: UInt64, from name: PoolName, finishing: Bool = false) {
        let listener = self.state.withLockedValue { state in state.feeds[name]?.listeners.removeValue(forKey: id) }
        if finishing { listener?.continuation.finish() }
    }

    /// The pool's reader: reads after the feed's last id every ``interval`` (at once again while
    /// a read comes back full) and hands each listener what is new to it, until none is left.
    private func read(_ name: PoolName) async {
        var quietSince = ContinuousClock.now
        while true {
            guard let last = self.state.withLockedValue({ state -> StreamID? in
                guard let feed = state.feeds[name] else { return nil }
                if feed.listeners.isEmpty {
                    state.feeds[name] = nil
                    return nil
                }
                return feed.last
            }) else { return }
            var full = false
            do {
                let events = try await self.pool.events(in: name, after: last.description, limit: Self.batch)
                full = events.count == Self.batch
                if !events.isEmpty {
                    self.deliver(events.compactMap(Self.encode), to: name)
                    quietSince = .now
                }
            } catch {
                self.logger.debug("Events cannot be read for now", metadata: ["tokenpool.pool": "\(name)", "error": "\(error)"])
            }
            if ContinuousClock.now - quietSince >= self.heartbeat {
                self.broadcast(.quiet, to: name)
                quietSince = .now
            }
            if !full {
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    private static func encode(_ event: PoolEvent) -> Encoded? {
        guard let id = StreamID(event.id) else { return nil }
        var bytes = ByteBuffer()
        bytes.writeServerSentEvent(event)
        return Encoded(id: id, bytes: bytes)
    }

    private func deliver(_ events: [Encoded], to name: PoolName) {
        guard let newest = events.last else { return }
        let dropped: [AsyncStream<Delivery>.Continuation] = self.state.withLockedValue { state in
            guard var feed = state.feeds[name] else { return [] }
            feed.last = newest.id
            feed.recent.append(contentsOf: events)
            if feed.recent.count > Self.recentKept {
                let trimmed = feed.recent.count - Self.recentKept
                feed.coveredFrom = feed.recent[trimmed - 1].id
                feed.recent.removeFirst(trimmed)
            }
            var dropped: [AsyncStream<Delivery>.Continuation] = []
            for (id, listener) in feed.listeners {
                let new = listener.last < events[0].id ? events : events.filter { $0.id > listener.last }
                guard !new.isEmpty else { continue }
                let behind = listener.pending.withLockedValue { pending in
                    pending += new.count
                    return pending
                }
                if behind > self.maxBacklog {
                    feed.listeners[id] = nil
                    dropped.append(listener.continuation)
                } else {
                    listener.continuation.yield(.events(new))
                    feed.listeners[id]?.last = newest.id
                }
            }
            state.feeds[name] = feed
            return dropped
        }
        for continuation in dropped {
            continuation.yield(.reconnect)
            continuation.finish()
        }
    }

    private func broadcast(_ delivery: Delivery, to name: PoolName) {
        let listeners = self.state.withLockedValue { state in state.feeds[name].map { Array($0.listeners.values) } ?? [] }
        for listener in listeners { listener.continuation.yield(delivery) }
    }

    /// Ends every subscription (the server is shutting down).
    func finishAll() {
        let listeners = self.state.withLockedValue { state in
            defer { state.feeds.removeAll() }
            return state.feeds.values.flatMap(\.listeners.values)
        }
        for listener in listeners { listener.continuation.finish() }
    }
}
