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

    /// Where a listener's deliveries go, with its subscription (to say when it took one); nil
    /// when they end. An `AsyncStream` a task reads, or the channel of a stream parked on its
    /// connection (``ParkingHandler``).
    typealias Sink = @Sendable (Delivery?, Subscription) -> Void

    /// One listener's place: what it has been sent, and how many events it has not taken yet.
    private struct Listener {
        let sink: Sink
        let subscription: Subscription
        var last: StreamID

        func send(_ delivery: Delivery?) { self.sink(delivery, self.subscription) }
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
        let sink: Sink = { delivery, _ in
            guard let delivery else { return continuation.finish() }
            continuation.yield(delivery)
        }
        guard let subscription = self.subscribe(to: name, after: last, sink: sink) else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(subscription.id, from: name) }
        return (stream, subscription)
    }

    /// ``subscribe(to:after:)`` with the deliveries handed to `sink` (under the hub's lock: it
    /// must not block), which says ``Subscription/took(_:)`` when it has written one.
    func subscribe(to name: PoolName, after last: StreamID, sink: @escaping Sink) -> Subscription? {
        let id = self.state.withLockedValue { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let subscription = Subscription(id: id, pending: NIOLockedValueBox(0), end: { [weak self] in self?.unsubscribe(id, from: name, finishing: true) })
        let (startsFeed, accepted): (Bool, Bool) = self.state.withLockedValue { state in
            var listener = Listener(sink: sink, subscription: subscription, last: last)
            guard var feed = state.feeds[name] else {
                state.feeds[name] = Feed(last: last, listeners: [id: listener])
                return (true, true)
            }
            if last < feed.last {
                // Behind the feed: what it missed must still be in `recent`.
                guard last >= feed.coveredFrom else { return (false, false) }
                let missed = feed.recent.filter { $0.id > last }
                if !missed.isEmpty {
                    subscription.pending.withLockedValue { $0 += missed.count }
                    listener.send(.events(missed))
                    listener.last = missed[missed.count - 1].id
                }
            }
            feed.listeners[id] = listener
            state.feeds[name] = feed
            return (false, true)
        }
        guard accepted else { return nil }
        if startsFeed {
            Task { await self.read(name) }
        }
        return subscription
    }

    /// What a listener holds to say it took a delivery, or to end its subscription.
    struct Subscription: Sendable {
        fileprivate let id: UInt64
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
        if finishing { listener?.send(nil) }
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
        let dropped: [Listener] = self.state.withLockedValue { state in
            guard var feed = state.feeds[name] else { return [] }
            feed.last = newest.id
            feed.recent.append(contentsOf: events)
            if feed.recent.count > Self.recentKept {
                let trimmed = feed.recent.count - Self.recentKept
                feed.coveredFrom = feed.recent[trimmed - 1].id
                feed.recent.removeFirst(trimmed)
            }
            var dropped: [Listener] = []
            for (id, listener) in feed.listeners {
                let new = listener.last < events[0].id ? events : events.filter { $0.id > listener.last }
                guard !new.isEmpty else { continue }
                let behind = listener.subscription.pending.withLockedValue { pending in
                    pending += new.count
                    return pending
                }
                if behind > self.maxBacklog {
                    feed.listeners[id] = nil
                    dropped.append(listener)
                } else {
                    listener.send(.events(new))
                    feed.listeners[id]?.last = newest.id
                }
            }
            state.feeds[name] = feed
            return dropped
        }
        for listener in dropped {
            listener.send(.reconnect)
            listener.send(nil)
        }
    }

    private func broadcast(_ delivery: Delivery, to name: PoolName) {
        let listeners = self.state.withLockedValue { state in state.feeds[name].map { Array($0.listeners.values) } ?? [] }
        for listener in listeners { listener.send(delivery) }
    }

    /// Ends every subscription (the server is shutting down).
    func finishAll() {
        let listeners = self.state.withLockedValue { state in
            defer { state.feeds.removeAll() }
            return state.feeds.values.flatMap(\.listeners.values)
        }
        for listener in listeners { listener.send(nil) }
    }
}
