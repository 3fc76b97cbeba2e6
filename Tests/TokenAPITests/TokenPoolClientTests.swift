import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RedisTokenPool
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// The client library against a live server on a real Redis: the typed answers and errors.
struct TokenPoolClientTests {
    static func withLiveServer(leaseTTL: Duration = .seconds(60), _ test: @escaping @Sendable (TokenPoolClient) async throws -> Void) async throws {
        try await TokenAPITests.withLiveApp(configure: { $0.leaseTTL = leaseTTL }) { _, pool in try await test(pool) }
    }

    @Test func aTokensWholeLifeThroughTheClient() async throws {
        try await Self.withLiveServer { pool in
            let made = try await pool.generate(count: 2, in: "lib")
            #expect(made.count == 2 && made.allSatisfy { $0.state == .free && $0.pool == "lib" })
            let held = try await pool.assign(in: "lib", idempotencyKey: "once")
            #expect(held.state == .assigned && held.lease != nil)
            #expect(try await pool.assign(in: "lib", idempotencyKey: "once") == held)
            let leaseLeft = try #require(held.leaseExpiresIn)
            #expect(leaseLeft > 59 && leaseLeft <= 60)
            #expect(held.keepAliveInterval! > .seconds(19) && held.keepAliveInterval! <= .seconds(20))
            let kept = try await pool.keepAlive(held.token, lease: held.lease, in: "lib")
            #expect(kept.lease == held.lease)
            let stats = try await pool.stats(of: "lib")
            #expect((stats.pool, stats.total, stats.free, stats.assigned) == ("lib", 2, 1, 1))
            #expect(try await pool.unblock(held.token, lease: held.lease, in: "lib").state == .free)
            try await pool.delete(held.token, in: "lib")
            #expect(try await pool.stats(of: "lib").total == 1)
        }
    }

    @Test func severalAtOncePriorityTheCapAndTheQueueThroughTheClient() async throws {
        try await Self.withLiveServer { pool in
            let made = Set(try await pool.generate(count: 3, in: "take").map(\.token))
            let two = try await pool.assign(count: 2, in: "take", holder: "transfer")
            #expect(two.count == 2 && Set(two.map(\.token)).isSubset(of: made) && two.allSatisfy { $0.holder == "transfer" })
            let none = await #expect(throws: TokenPoolClientError.self) { try await pool.assign(count: 2, in: "take") }
            #expect(none?.code == .noFreeToken)
            let waiting = Task { try await pool.assign(count: 2, priority: 7, wait: .seconds(10), in: "take", holder: "big") }
            var queue = try await pool.waiters(of: "take")
            for _ in 0..<500 where queue.waiters.isEmpty {
                try await Task.sleep(for: .milliseconds(10))
                queue = try await pool.waiters(of: "take")
            }
            #expect(queue.waiters.map(\.holder) == ["big"] && queue.waiters.first?.priority == 7 && queue.setAside.count == 1)
            #expect(queue.waiters.first?.sinceDate != nil)
            #expect(try await pool.stats(of: "take").reserved == 1)
            _ = try await pool.unblock(two[0].token, lease: two[0].lease, in: "take")
            #expect(try await waiting.value.count == 2)
            let info = try await pool.configure("take", leaseTTL: nil, keepAliveTTL: nil, maxPerHolder: 1)
            #expect(info.maxPerHolder == 1)
            let capped = await #expect(throws: TokenPoolClientError.self) { try await pool.assign(in: "take", holder: "transfer") }
            #expect(capped?.code == .holderLimit && capped?.status == 429 && capped?.retryAfter != nil)
        }
    }

    @Test func errorsAreTypedWithTheServersProblem() async throws {
        try await Self.withLiveServer { pool in
            let error = await #expect(throws: TokenPoolClientError.self) { try await pool.assign(in: "empty") }
            #expect(error?.code == .noFreeToken && error?.status == 404 && error?.problem?.slug == "no-free-token")
            let token = try await pool.generate(in: "c")[0]
            let held = try await pool.assign(in: "c")
            let conflict = await #expect(throws: TokenPoolClientError.self) { try await pool.unblock(token.token, lease: held.lease! + 1, in: "c") }
            #expect(conflict?.code == .leaseConflict)
            let missing = await #expect(throws: TokenPoolClientError.self) { try await pool.inspect(Token.random().rawValue, in: "c") }
            #expect(missing?.code == .tokenNotFound)
            let bad = await #expect(throws: TokenPoolClientError.self) { try await pool.generate(count: 0, in: "c") }
            #expect(bad?.code == .badRequest)
            let nobody = TokenPoolClient(baseURL: "http://127.0.0.1:1", timeout: .seconds(2))
            let transport = await #expect(throws: TokenPoolClientError.self) { try await nobody.stats() }
            #expect(transport?.code == .transport && transport?.status == 0 && transport?.isRetryable == true)
        }
    }

    @Test func waitsNeverTakeTheConnectionsGiveBacksNeed() async throws {
        // `HTTPClient.shared` opens 8 connections to a host. When waiting assigns went on it too,
        // twelve waits took all 8, and the calls below (the queue, the give-back) never left.
        try await Self.withLiveServer { pool in
            _ = try await pool.generate(in: "conns")
            let held = try await pool.assign(in: "conns")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        let token = try await pool.assign(in: "conns", wait: .seconds(20))
                        _ = try await pool.unblock(token.token, lease: token.lease, in: "conns")
                    }
                }
                var queued = 0
                for _ in 0..<500 where queued < 12 {
                    try await Task.sleep(for: .milliseconds(10))
                    queued = try await pool.waiters(of: "conns").waiters.count
                }
                #expect(queued == 12)
                _ = try await pool.unblock(held.token, lease: held.lease, in: "conns")
                try await group.waitForAll()
            }
            #expect(try await pool.stats(of: "conns").free == 1)
        }
    }

    @Test func withTokenKeepsTheLeaseAliveAndUnblocksAfter() async throws {
        // Keep-alives every 667 ms on a 2 s lease: room for a late one on a machine running every
        // suite at once (a 1.2 s lease lapsed once in a clean-clone run).
        try await Self.withLiveServer(leaseTTL: .seconds(2)) { pool in
            _ = try await pool.generate(in: "w")
            let lease = try await pool.withToken(in: "w") { held in
                // Two lease TTLs and more: without keep-alives the lease would lapse.
                try await Task.sleep(for: .milliseconds(4200))
                let now = try await pool.inspect(held.token, in: "w")
                #expect(now.state == .assigned && now.lease == held.lease)
                return held.lease
            }
            #expect(lease != nil)
            #expect(try await pool.stats(of: "w").free == 1)
            // Unblocked also when the body throws.
            await #expect(throws: CancellationError.self) {
                try await pool.withToken(in: "w") { _ in throw CancellationError() }
            }
            #expect(try await pool.stats(of: "w").free == 1)
        }
    }
}
