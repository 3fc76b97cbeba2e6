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
/// Each replica reads the stream every ``pollInterval`` (non-blocking `XRANGE` after the last id
/// sent, on the shared connections: no connection held per listener). `Last-Event-ID` (what an
/// EventSource sends when it reconnects) or `?since=MS` replays what the stream still holds (the
/// last ~1000 events); otherwise the stream starts with what happens next.
struct EventsController<Context: RequestContext>: Sendable {
    let pool: TokenPool
    var pollInterval: Duration = .milliseconds(250)
    /// A comment line this often when nothing happens, so proxies keep the connection and a
    /// client that left is noticed.
    var heartbeat: Duration = .seconds(5)

    func stream(_ request: Request, _ context: Context, _ name: PoolName) async throws -> Response {
        let start: String
        if let last = request.headers[.lastEventID] {
            guard Self.isStreamID(last) else { throw ProblemDetails.badRequest("Last-Event-ID must be an event's id, like 1764383740844-0") }
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
        let (pool, logger, poll, heartbeat) = (self.pool, context.logger, self.pollInterval, self.heartbeat)
        let body = ResponseBody { writer in
            var last = start
            var quietSince = ContinuousClock.now
            try await writer.write(ByteBuffer(string: ": events of pool \(name)\nretry: 1000\n\n"))
            // Ends when the client leaves (a write fails), the server shuts down (noticed within a
            // poll), or `duration` is up.
            let stopping = NIOLockedValueBox(false)
            try await withGracefulShutdownHandler {
                while !Task.isCancelled, !stopping.withLockedValue({ $0 }), ends.map({ ContinuousClock.now < $0 }) ?? true {
                    do {
                        let events = try await pool.events(in: name, after: last)
                        if let newest = events.last {
                            var buffer = ByteBuffer()
                            for event in events { buffer.writeServerSentEvent(event) }
                            try await writer.write(buffer)
                            last = newest.id
                            quietSince = .now
                            continue
                        }
                    } catch let error as RedisClientError {
                        logger.debug("Events cannot be read for now", metadata: ["tokenpool.pool": "\(name)", "error": "\(error)"])
                    } catch let error as RedisServerError {
                        logger.debug("Events cannot be read for now", metadata: ["tokenpool.pool": "\(name)", "error": "\(error.message)"])
                    }
                    if ContinuousClock.now - quietSince >= heartbeat {
                        try await writer.write(ByteBuffer(string: ": quiet\n\n"))
                        quietSince = .now
                    }
                    try await Task.sleep(for: poll)
                }
            } onGracefulShutdown: {
                stopping.withLockedValue { $0 = true }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    /// A stream entry id: `MS-SEQ`.
    private static func isStreamID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.count <= 20 && $0.allSatisfy(\.isASCII) && UInt64($0) != nil }
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
