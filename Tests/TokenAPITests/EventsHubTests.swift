import Logging
import NIOCore
import RedisNIO
import RedisTokenPool
import Testing
import TokenPoolTestSupport

@testable import TokenAPI

/// The events hub: one reader per pool, shared by every listener; a listener that stops taking
/// its deliveries is told to reconnect and dropped.
struct EventsHubTests {
    private static func withHub<T: Sendable>(maxBacklog: Int = 1_000, _ body: (TokenPool, EventsHub, RedisTestServer) async throws -> T) async throws -> T {
        try await withRedis { server, client in
            let pool = TokenPool(client: client, settings: TokenPoolSettings())
            let hub = EventsHub(pool: pool, interval: .milliseconds(50), heartbeat: .seconds(5), maxBacklog: maxBacklog, logger: testLogger())
            defer { hub.finishAll() }
            return try await body(pool, hub, server)
        }
    }

    /// The ids each listener got, in order, until it has `count` of them.
    private static func take(_ count: Int, from stream: AsyncStream<EventsHub.Delivery>, _ subscription: EventsHub.Subscription) async -> [String] {
        var ids: [String] = []
        for await delivery in stream {
            subscription.took(delivery)
            if case .events(let events) = delivery { ids += events.map(\.id.description) }
            if ids.count >= count { break }
        }
        return ids
    }

    @Test func everyListenerGetsEveryEventOnceInOrderFromOneReader() async throws {
        try await Self.withHub { pool, hub, server in
            _ = try await pool.generate(count: 1)
            let start = try #require(StreamID(try await pool.lastEventID(in: .default)))
            let listeners = try (0..<50).map { _ in try #require(hub.subscribe(to: .default, after: start)) }
            #expect(hub.counts == (feeds: 1, listeners: 50))
            let before = try await Self.xrangeCalls(server)
            for _ in 0..<10 {
                let record = try await pool.assign()
                _ = try await pool.unblock(record.token)
            }
            let expected = try await pool.events(in: .default, after: start.description).map(\.id)
            #expect(expected.count == 20)
            for (stream, subscription) in listeners {
                #expect(await Self.take(20, from: stream, subscription) == expected)
            }
            // One reader for fifty listeners: about one XRANGE a 50 ms tick, not fifty.
            let reads = try await Self.xrangeCalls(server) - before
            #expect(reads < 200, "\(reads) XRANGE calls")
            listeners.forEach { $0.1.cancel() }
            try await Task.sleep(for: .milliseconds(200))
            #expect(hub.counts == (feeds: 0, listeners: 0), "the reader stops with its last listener")
        }
    }

    @Test func aListenerThatJoinsBehindTheFeedIsSentWhatItMissed() async throws {
        try await Self.withHub { pool, hub, _ in
            _ = try await pool.generate(count: 1)
            let start = try #require(StreamID(try await pool.lastEventID(in: .default)))
            let (early, earlySubscription) = try #require(hub.subscribe(to: .default, after: start))
            _ = try await pool.assign()
            #expect(await Self.take(1, from: early, earlySubscription).count == 1)
            let (late, lateSubscription) = try #require(hub.subscribe(to: .default, after: start))
            let expected = try await pool.events(in: .default, after: start.description).map(\.id)
            #expect(await Self.take(1, from: late, lateSubscription) == expected)
        }
    }

    @Test func aListenerThatStopsTakingIsToldToReconnectAndDropped() async throws {
        try await Self.withHub(maxBacklog: 5) { pool, hub, _ in
            _ = try await pool.generate(count: 1)
            let start = try #require(StreamID(try await pool.lastEventID(in: .default)))
            let (stream, subscription) = try #require(hub.subscribe(to: .default, after: start))
            for _ in 0..<10 {
                let record = try await pool.assign()
                _ = try await pool.unblock(record.token)
                try await Task.sleep(for: .milliseconds(60))
            }
            var delivered = 0
            var last: EventsHub.Delivery?
            for await delivery in stream {
                if case .events(let events) = delivery { delivered += events.count }
                last = delivery
            }
            #expect(delivered <= 5, "at most its backlog was held for it")
            guard case .reconnect = last else { Issue.record("the last delivery was \(String(describing: last))"); return }
            _ = subscription
            #expect(hub.counts.listeners == 0)
        }
    }

    private static func xrangeCalls(_ server: RedisTestServer) async throws -> Int {
        let client = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: testLogger())
        return try await withRunning(client) {
            let info = try await client.send("INFO", "commandstats").string ?? ""
            guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_xrange:") }),
                let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
            else { return 0 }
            return Int(calls) ?? 0
        }
    }
}
