import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// The marks of a pool's settings hash that let a pool without metadata, named holders or
/// waiters skip reading them (prelude.lua, KEYS[11]): set while there may be something, cleared
/// by reap once there is nothing, and set by reap where data was written without them (an older
/// replica during a rolling upgrade, or data from before the mark).
struct SettingsMarksTests {
    /// The pool's marks that are set, of `meta`, `held` and `queued`.
    private static func marks(_ pool: TokenPool) async throws -> Set<String> {
        let fields = try await pool.client.send("HKEYS", pool.keys(of: .default).settings).array ?? []
        return Set(fields.compactMap(\.string)).intersection(["meta", "held", "queued"])
    }

    @Test func aPoolMarksMetadataHoldersAndWaitersOnlyWhileItHasThem() async throws {
        try await WaitingAssignTests.withReplicas { pools, _ in
            let pool = pools[0]
            let tokens = try await pool.generate(count: 2).map(\.token)
            #expect(try await Self.marks(pool) == [])
            let plain = try await pool.assign()
            #expect(plain.holder == nil && plain.metadata == nil && plain.state == .assigned && plain.failures == 0)
            #expect(try await pool.unblock(plain.token, lease: plain.lease).state == .free)

            _ = try await pool.setMetadata(#"{"proxy":"10.0.0.7"}"#, of: tokens[0])
            let held = try await pool.assign(holder: "crawler")
            #expect(try await Self.marks(pool) == ["meta", "held"])
            #expect(try await pool.inspect(tokens[0]).metadata == #"{"proxy":"10.0.0.7"}"#)
            #expect(try await pool.keepAlive(held.token, lease: held.lease).holder == "crawler")
            _ = try await pool.assign()
            let waiter = Task { try await pool.assign(wait: .seconds(5)) }
            try await WaitingAssignTests.waitForQueue(pool, 1)
            #expect(try await Self.marks(pool) == ["meta", "held", "queued"])
            _ = try await pool.unblock(held.token, lease: held.lease)
            #expect(try await waiter.value.token == held.token)

            // Nothing left to mark: the next reap clears them, and replies are as before.
            _ = try await pool.setMetadata(nil, of: tokens[0])
            _ = try await pool.reap(.default)
            #expect(try await Self.marks(pool) == [])
            let after = try await pool.inspect(tokens[0])
            #expect(after.metadata == nil && after.holder == nil)
        }
    }

    @Test func reapMarksMetadataHoldersAndWaitersWrittenWithoutTheirMark() async throws {
        try await WaitingAssignTests.withReplicas { pools, _ in
            let pool = pools[0]
            let keys = pool.keys(of: .default)
            let tokens = try await pool.generate(count: 2).map(\.token)
            // What a replica from before the marks writes: metadata and a holder, no mark.
            _ = try await pool.client.send("HSET", keys.meta, tokens[0].rawValue, #"{"seat":7}"#)
            let held = try await pool.assign(holder: "crawler")
            _ = try await pool.client.send("HDEL", keys.settings, "held")
            #expect(try await pool.inspect(tokens[0]).metadata == nil)
            #expect(try await pool.inspect(held.token).holder == nil)
            _ = try await pool.reap(.default)
            #expect(try await Self.marks(pool) == ["meta", "held"])
            #expect(try await pool.inspect(tokens[0]).metadata == #"{"seat":7}"#)
            #expect(try await pool.inspect(held.token).holder == "crawler")

            // A waiter queued without the mark: the token freed goes to the free set, unseen by
            // the queue, until reap marks the queue and hands the free set to it.
            let other = try await pool.assign()
            let waiter = Task { try await pool.assign(wait: .seconds(5)) }
            try await WaitingAssignTests.waitForQueue(pool, 1)
            _ = try await pool.client.send("HDEL", keys.settings, "queued")
            _ = try await pool.unblock(other.token, lease: other.lease)
            #expect(try await pool.stats().free == 1)
            _ = try await pool.reap(.default)
            #expect(try await waiter.value.token == other.token)
            #expect(try await pool.stats().free == 0)
        }
    }
}
