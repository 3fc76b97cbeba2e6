import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// The events stream the scripts append to in the same step as each change.
struct PoolEventsTests {
    private struct Event: Equatable {
        var type: String
        var token: String?
        var lease: Int64?
        var holder: String?
        var count: Int?
    }

    private static func read(_ pool: TokenPool, after id: String = "0-0") async throws -> [Event] {
        try await pool.events(in: .default, after: id).map { Event(type: $0.type, token: $0.token, lease: $0.lease, holder: $0.holder, count: $0.count) }
    }

    @Test func everyChangeIsAnEventInTheOrderItHappened() async throws {
        try await TokenPoolTests.withPool(leaseTTL: .seconds(1), keepAliveTTL: .seconds(3)) { pool in
            let made = try await pool.generate(count: 3)
            let held = try await pool.assign(holder: "worker-7")
            _ = try await pool.unblock(held.token, lease: held.lease)
            let lapsing = try await pool.assign()
            let other = made.map(\.token).first { $0 != lapsing.token }!
            try await pool.delete(other)
            try await Task.sleep(for: try #require(lapsing.leaseExpiresIn) + .milliseconds(100))
            _ = try await pool.reap(.default)
            let events = try await Self.read(pool)
            #expect(events == [
                Event(type: "generated", count: 3),
                Event(type: "assigned", token: held.token.rawValue, lease: held.lease, holder: "worker-7"),
                Event(type: "unblocked", token: held.token.rawValue, lease: held.lease),
                Event(type: "assigned", token: lapsing.token.rawValue, lease: lapsing.lease),
                Event(type: "deleted", token: other.rawValue),
                Event(type: "lapsed", token: lapsing.token.rawValue, lease: lapsing.lease),
            ])
            // After their life (3 s), the tokens left expire.
            let last = try await pool.lastEventID(in: .default)
            try await Task.sleep(until: .now + .seconds(3))
            _ = try await pool.reap(.default)
            #expect(try await Self.read(pool, after: last).map(\.type) == ["expired", "expired"])
        }
    }

    @Test func anAdminChangeNamesTheKeyThatAskedAndNothingElseDoes() async throws {
        try await TokenPoolTests.withPool { pool in
            let made = try await pool.generate(count: 2, by: "ops")
            _ = try await pool.disable(made[0].token, reason: "dead proxy", by: "team-a:admin")
            _ = try await pool.enable(made[0].token, by: "team-a:admin")
            let held = try await pool.assign(holder: "worker")
            _ = try await pool.unblock(held.token, lease: held.lease)
            try await pool.delete(made[1].token, by: "ops")
            try await pool.delete(made[0].token)
            let events = try await pool.events(in: .default, after: "0-0")
            #expect(events.map { "\($0.type) \($0.by ?? "-")" } == [
                "generated ops", "disabled team-a:admin", "enabled team-a:admin", "assigned -", "unblocked -", "deleted ops", "deleted -",
            ])
            #expect(events[1].reason == "dead proxy")
        }
    }

    @Test func theStreamStaysBoundedAndCanBeTurnedOff() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.generate(count: 1)
            for _ in 0..<1_500 {
                let record = try await pool.assign()
                _ = try await pool.unblock(record.token)
            }
            let length = try await pool.client.send("XLEN", pool.keys(of: .default).events).int ?? 0
            #expect((1_000...1_200).contains(length), "\(length) entries")

            _ = try await pool.client.send("HSET", pool.keys(of: .default).settings, "events", "off")
            let last = try await pool.lastEventID(in: .default)
            _ = try await pool.assign()
            #expect(try await pool.events(in: .default, after: last).isEmpty)
        }
    }
}
