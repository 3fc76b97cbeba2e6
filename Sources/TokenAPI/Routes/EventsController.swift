import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisNIO
import RedisTokenPool
import ServiceLifecycle

/// `GET /events` and `GET /pools/{pool}/events`: the pool's events as server-sent events
/// (`text/event-stream`), from the Redis stream the scripts append to in the same step as each
/// change, so every replica's stream shows every replica's changes.
///
/// A listener first reads what it asked to replay (`Last-Event-ID`, what an EventSource sends
/// when it reconnects, or `?since=MS`: the last ~1000 events the stream holds) by itself, then
/// joins its pool's feed in the ``EventsHub``: one `XRANGE` every 250 ms per pool per replica,
/// however many listen. A stream with `?duration=S` (a short look) reads by itself throughout.
struct EventsController<Context: ChannelRequestContext>: Sendable {
    let pool: TokenPool
    let hub: EventsHub

    init(pool: TokenPool, hub: EventsHub) {
        (self.pool, self.hub) = (pool, hub)
    }

    func stream(_ request: Request, _ context: Context, _ name: PoolName) async throws -> Response {
        let start: String
        if let last = request.headers[.lastEventID] {
            guard StreamID(last) != nil else { throw ProblemDetails.badRequest("Last-Event-ID must be an event's id, like 1764383740844-0") }
            start = last
        } else if let since = request.uri.queryParameters.get("since") {
            guard let ms = Int64(since), ms >= 0 else { throw ProblemDetails.badRequest("since must be a time in ms since the epoch") }
            // Exclusive of this id: every event of millisecond `ms` on.
            start = ms == 0 ? "0-0" : "\(ms - 1)-18446744073709551615"
        } else {
            start = try await self.pool.lastEventID(in: name)
        }
        var duration: Duration?
        if let text = request.uri.queryParameters.get("duration") {
            guard let seconds = Double(text), seconds > 0, seconds <= 86_400 else {
                throw ProblemDetails.badRequest("duration must be a number of seconds from 0 to 86400")
            }
            duration = .milliseconds(Int64(seconds * 1000))
        }
        let ends = duration.map { ContinuousClock.now + $0 }
        let (pool, hub, logger, parking) = (self.pool, self.hub, context.logger, context.parking)
        let body = ResponseBody { writer in
            try await Self.write(ByteBuffer(string: ": events of pool \(name)\nretry: 1000\n\n"), to: &writer)
            // Ends when the client leaves (a write fails), the server shuts down, or `duration` is up.
            let subscribed = NIOLockedValueBox<EventsHub.Subscription?>(nil)
            let stopped = NIOLockedValueBox(false)
            let parked = try await withGracefulShutdownHandler { () async throws -> Bool in
                var last = start
                var quietSince = ContinuousClock.now
                // Reads by itself until it has all the stream holds, then (without `duration`) joins the feed.
                reading: while !Task.isCancelled, !stopped.withLockedValue({ $0 }), ends.map({ ContinuousClock.now < $0 }) ?? true {
                    switch try await Self.sendUnread(pool, name, after: last, to: &writer, logger: logger) {
                    case .sent(let newest):
                        last = newest
                        quietSince = .now
                        continue reading
                    case .none:
                        if ends == nil, let position = StreamID(last), let parking, let channel = parking.channel {
                            // Read by ParkingHandler: the feed writes to the connection, and no task waits.
                            if Self.parkFeed(hub, name, after: position, lastSent: last, channel: channel, in: parking) { return true }
                        } else if ends == nil, let position = StreamID(last), let (deliveries, subscription) = hub.subscribe(to: name, after: position) {
                            subscribed.withLockedValue { $0 = subscription }
                            defer { subscription.cancel() }
                            if stopped.withLockedValue({ $0 }) { break reading }
                            try await Self.forward(deliveries, subscription, to: &writer, lastSent: last)
                            break reading
                        }
                    case .unavailable:
                        break
                    }
                    // A stream that reads by itself (`?duration=`) keeps its own heartbeat; the feed sends the others'.
                    if ContinuousClock.now - quietSince >= hub.heartbeat {
                        try await Self.write(ByteBuffer(string: ": quiet\n\n"), to: &writer)
                        quietSince = .now
                    }
                    try await Task.sleep(for: hub.interval)
                }
                return false
            } onGracefulShutdown: {
                stopped.withLockedValue { $0 = true }
                subscribed.withLockedValue { $0 }?.cancel()
            }
            // A parked stream goes on without this task; its feed ends it.
            if !parked { try await writer.finish(nil) }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    // The stream's steps are functions of their own, never inlined: inlined, their locals (the
    // Redis call's, the writer's) would widen the stream's async frame, which a listener keeps
    // for as long as it listens (docs/scaling.md).

    /// What ``sendUnread(_:_:after:to:logger:)`` found after the last event sent.
    private enum Unread {
        /// Events, written; the newest one's id.
        case sent(String)
        /// None: the stream holds nothing newer.
        case none
        /// The events cannot be read for now (logged).
        case unavailable
    }

    /// Reads the events after `last` and writes them.
    @inline(never)
    private static func sendUnread(
        _ pool: TokenPool, _ name: PoolName, after last: String, to writer: inout some ResponseBodyWriter, logger: Logger
    ) async throws -> Unread {
        do {
            let events = try await pool.events(in: name, after: last)
            guard let newest = events.last else { return .none }
            var buffer = ByteBuffer()
            for event in events { buffer.writeServerSentEvent(event) }
            try await writer.write(buffer)
            return .sent(newest.id)
        } catch let error as RedisClientError {
            logger.debug("Events cannot be read for now", metadata: ["tokenpool.pool": "\(name)", "error": "\(error)"])
        } catch let error as RedisServerError {
            logger.debug("Events cannot be read for now", metadata: ["tokenpool.pool": "\(name)", "error": "\(error.message)"])
        }
        return .unavailable
    }

    @inline(never)
    private static func write(_ buffer: ByteBuffer, to writer: inout some ResponseBodyWriter) async throws {
        try await writer.write(buffer)
    }

    /// Writes the feed's deliveries until it ends them (shutdown, or this listener fell too far
    /// behind: then a last `event: reconnect` asks the client to come back with Last-Event-ID).
    @inline(never)
    private static func forward(
        _ deliveries: AsyncStream<EventsHub.Delivery>, _ subscription: EventsHub.Subscription, to writer: inout some ResponseBodyWriter, lastSent: String
    ) async throws {
        var lastSent = lastSent
        for await delivery in deliveries {
            subscription.took(delivery)
            try await Self.write(Self.bytes(of: delivery, lastSent: &lastSent), to: &writer)
        }
    }

    /// What a delivery of the feed writes on the stream; `lastSent` follows the events written.
    private static func bytes(of delivery: EventsHub.Delivery, lastSent: inout String) -> ByteBuffer {
        switch delivery {
        case .events(let events):
            var buffer = ByteBuffer()
            for event in events { buffer.writeImmutableBuffer(event.bytes) }
            lastSent = events.last?.id.description ?? lastSent
            return buffer
        case .quiet:
            return ByteBuffer(string: ": quiet\n\n")
        case .reconnect:
            return ByteBuffer(string: "event: reconnect\ndata: {\"lastEventId\":\"\(lastSent)\"}\n\n")
        }
    }

    /// Joins the feed with the stream parked on its connection: each delivery is written to the
    /// channel (taken once written, so a client that stops reading falls behind and is dropped),
    /// and the stream ends when the feed ends it. False when the feed has moved past `position`.
    @inline(never)
    private static func parkFeed(
        _ hub: EventsHub, _ name: PoolName, after position: StreamID, lastSent: String, channel: ParkingSlot.Channel, in slot: ParkingSlot
    ) -> Bool {
        let lastSent = NIOLockedValueBox(lastSent)
        let subscription = hub.subscribe(to: name, after: position) { delivery, subscription in
            guard let delivery else { return channel.end() }
            channel.write(lastSent.withLockedValue { Self.bytes(of: delivery, lastSent: &$0) }) { subscription.took(delivery) }
        }
        guard let subscription else { return false }
        slot.parkStream(cancel: subscription.cancel)
        return true
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
}

extension ByteBuffer {
    /// `id: ID`, `event: TYPE`, `data: {"type", "at", "token"?, "lease"?, "holder"?, "count"?, "availableAt"?, "reason"?, "by"?}`, a blank line.
    mutating func writeServerSentEvent(_ event: PoolEvent) {
        var json = JSONWriter(capacity: 128)
        json.beginObject()
        json.field("type", event.type)
        json.field("at", event.at)
        if let token = event.token { json.field("token", token) }
        if let lease = event.lease { json.field("lease", lease) }
        if let holder = event.holder { json.field("holder", holder) }
        if let count = event.count { json.field("count", count) }
        if let availableAt = event.availableAt { json.field("availableAt", timestampFromMilliseconds: availableAt) }
        if let reason = event.reason { json.field("reason", reason) }
        if let by = event.by { json.field("by", by) }
        json.endObject()
        self.writeString("id: \(event.id)\nevent: \(event.type)\ndata: ")
        self.writeImmutableBuffer(json.buffer)
        self.writeString("\n\n")
    }
}
