import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// Take N, waiting for N with tokens set aside, priority, the cap per holder and the visible
/// queue (#25), against a real Redis.
struct AllocationPolicyTests {
    private static func withReplicas(
        _ replicas: Int, leaseTTL: Duration = .seconds(60), _ body: ([TokenPool], RedisTestServer) async throws -> Void
    ) async throws {
        try await WaitingAssignTests.withReplicas(replicas, leaseTTL: leaseTTL, body)
    }

    private static func waitForQueue(_ pool: TokenPool, _ count: Int) async throws {
        try await WaitingAssignTests.waitForQueue(pool, count)
    }

    /// Waits until the pool has `count` tokens set aside for its head.
    private static func waitForReserved(_ pool: TokenPool, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while try await pool.stats().reserved != count {
            try #require(ContinuousClock.now < deadline, "never \(count) set aside")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func takeNGivesDistinctTokensEachItsOwnLeaseOrNothing() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            _ = try await pool.generate(count: 5)
            let three = try await pool.assign(count: 3, holder: "transfer-test")
            #expect(Set(three.map(\.token)).count == 3)
            #expect(Set(three.compactMap(\.lease)).count == 3)
            #expect(three.allSatisfy { $0.state == .assigned && $0.holder == "transfer-test" })
            // Two left: three more is all or nothing, so nothing is taken.
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign(count: 3) }
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 5, free: 2, assigned: 3))
            // Keep-alive and unblock stay per token.
            _ = try await pool.keepAlive(three[0].token, lease: three[0].lease)
            _ = try await pool.unblock(three[1].token, lease: three[1].lease)
            #expect(try await pool.assign(count: 3).count == 3)
        }
    }

    @Test func anIdempotentTakeNGetsTheSameTokensBack() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            _ = try await pool.generate(count: 6)
            let first = try await pool.assign(count: 3, idempotencyKey: "two-accounts")
            let again = try await pool.assign(count: 3, idempotencyKey: "two-accounts")
            #expect(Set(first.map(\.token)) == Set(again.map(\.token)))
            #expect(Set(first.compactMap(\.lease)) == Set(again.compactMap(\.lease)))
            #expect(try await pool.stats().assigned == 3)
            // The key names that request: asking another count with it is refused, and takes nothing.
            await #expect(throws: TokenPoolError.idempotencyKeyReused("two-accounts", firstCount: 3, count: 1)) {
                try await pool.assign(idempotencyKey: "two-accounts")
            }
            await #expect(throws: TokenPoolError.idempotencyKeyReused("two-accounts", firstCount: 3, count: 2)) {
                try await pool.assign(count: 2, idempotencyKey: "two-accounts")
            }
            #expect(try await pool.stats().assigned == 3)
            // One given back: the retry answers the two that still stand, and takes nothing new.
            _ = try await pool.unblock(first[0].token, lease: first[0].lease)
            let rest = try await pool.assign(count: 3, idempotencyKey: "two-accounts")
            #expect(Set(rest.map(\.token)) == Set(first.dropFirst().map(\.token)))
            #expect(try await pool.stats().assigned == 2)
        }
    }

    @Test func aWaiterForSeveralHasFreedTokensSetAsideUntilItHasThemAll() async throws {
        try await Self.withReplicas(2) { pools, _ in
            let made = try await pools[0].generate(count: 3).map(\.token)
            let held = try await pools[0].assign(count: 3)
            let lease = Dictionary(uniqueKeysWithValues: held.map { ($0.token, $0.lease) })
            let big = Task { try await pools[0].assign(AssignRequest(count: 2, holder: "big"), wait: .seconds(10)) }
            try await Self.waitForQueue(pools[0], 1)
            let small = Task { try await pools[1].assign(holder: "small", wait: .seconds(10)) }
            try await Self.waitForQueue(pools[0], 2)

            _ = try await pools[0].unblock(made[0], lease: lease[made[0]]!)
            try await Self.waitForReserved(pools[0], 1)
            // Set aside: not free, not assignable by anyone, shown as reserved.
            #expect(try await pools[0].stats() == PoolStats(pool: .default, total: 3, free: 0, assigned: 2, waiting: 2, reserved: 1))
            #expect(try await pools[1].inspect(made[0]).state == .reserved)
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pools[1].assign() }
            let queue = try await pools[1].waiters()
            #expect(queue.waiters.map(\.holder) == ["big", "small"] && queue.waiters.map(\.count) == [2, 1])
            #expect(queue.setAside == [made[0]])

            _ = try await pools[1].unblock(made[1], lease: lease[made[1]]!)
            let got = try await big.value
            #expect(Set(got.map(\.token)) == Set(made[0...1]) && got.allSatisfy { $0.holder == "big" && $0.state == .assigned })
            #expect(try await pools[0].stats().reserved == 0)
            _ = try await pools[0].unblock(made[2], lease: lease[made[2]]!)
            #expect(try await small.value.token == made[2])
        }
    }

    @Test func whatWasSetAsideGoesToTheNextInLineWhenTheHeadLeaves() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            // The head wants more than the pool has: it times out, holding what it set aside.
            // (Its wait must outlast the steps up to the unblock on a loaded machine: 600 ms did not.)
            let big = Task { try await pool.assign(AssignRequest(count: 2), wait: .seconds(2)) }
            try await Self.waitForQueue(pool, 1)
            let small = Task { try await pool.assign(wait: .seconds(10)) }
            try await Self.waitForQueue(pool, 2)
            _ = try await pool.unblock(token, lease: held.lease)
            try await Self.waitForReserved(pool, 1)
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await big.value }
            // At once, not at the reaper's next pass.
            #expect(try await small.value.token == token)
            #expect(try await pool.stats().reserved == 0)
        }
    }

    @Test func aHeadWhoseClientLeftGivesWhatWasSetAsideOnAtOnce() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            let big = Task { try await pool.assign(AssignRequest(count: 5), wait: .seconds(30)) }
            try await Self.waitForQueue(pool, 1)
            _ = try await pool.unblock(token, lease: held.lease)
            try await Self.waitForReserved(pool, 1)
            big.cancel()
            _ = await big.result
            let deadline = ContinuousClock.now + .seconds(1)
            while try await pool.stats().free != 1 {
                try #require(ContinuousClock.now < deadline, "the token set aside was not freed within 1 s of the client leaving")
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(try await pool.assign().token == token)
        }
    }

    @Test func whatWasSetAsideForADeadReplicasWaiterGoesOnWithinASecond() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            // A replica that died right after its waiter for two joined: nobody renews it.
            let dead = try await pool.runAssign(
                in: .default, idempotencyKey: nil, holder: nil, count: 2, waiter: ("tokenpool:handover:dead#1", .seconds(30))
            )
            guard case .queued = dead else { Issue.record("the dead replica's waiter was not queued"); return }
            let next = Task { try await pool.assign(wait: .seconds(10)) }
            try await Self.waitForQueue(pool, 2)
            let freed = ContinuousClock.now
            _ = try await pool.unblock(token, lease: held.lease)
            #expect(try await next.value.token == token)
            let elapsed = ContinuousClock.now - freed
            // Set aside for the dead waiter first; its `until` (at most 750 ms after its join) and
            // one renewal of the live waiter (250 ms) later, the next in line has it.
            #expect(elapsed < .milliseconds(1500), "the next waiter got it after \(elapsed)")
            #expect(try await pool.stats().reserved == 0)
        }
    }

    @Test func higherPriorityIsServedFirstAndEqualPriorityInJoiningOrder() async throws {
        try await Self.withReplicas(2) { pools, _ in
            let token = try await pools[0].generate()[0].token
            var lease = try #require(try await pools[0].assign().lease)
            var waiting: [Task<[TokenRecord], any Error>] = []
            for (index, (priority, holder)) in [(-5, "low"), (10, "high"), (0, "mid-1"), (0, "mid-2")].enumerated() {
                waiting.append(Task { try await pools[index % 2].assign(AssignRequest(priority: priority, holder: holder), wait: .seconds(10)) })
                try await Self.waitForQueue(pools[0], index + 1)
            }
            let queue = try await pools[0].waiters()
            #expect(queue.waiters.map(\.holder) == ["high", "mid-1", "mid-2", "low"])
            #expect(queue.waiters.map(\.priority) == [10, 0, 0, -5])
            #expect(queue.waiters.allSatisfy { $0.since <= queue.observedAt && $0.waitUntil > queue.observedAt })
            // Paged, in the same order.
            let first = try await pools[1].waiters(limit: 2)
            let second = try await pools[1].waiters(limit: 2, after: try #require(first.next))
            #expect((first.waiters + second.waiters).map(\.holder) == ["high", "mid-1", "mid-2", "low"])
            await #expect(throws: TokenPoolError.invalidCursor("x")) { try await pools[0].waiters(after: "x") }

            var served: [String] = []
            for task in [waiting[1], waiting[2], waiting[3], waiting[0]] {
                _ = try await pools[0].unblock(token, lease: lease)
                let record = try #require(try await task.value.first)
                served.append(record.holder ?? "")
                lease = try #require(record.lease)
            }
            #expect(served == ["high", "mid-1", "mid-2", "low"])
        }
    }

    @Test func priorityNeverTakesBackWhatTheHeadHasSetAside() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            let made = try await pool.generate(count: 2).map(\.token)
            let held = try await pool.assign(count: 2)
            let big = Task { try await pool.assign(AssignRequest(count: 2, priority: -10, holder: "big"), wait: .seconds(10)) }
            try await Self.waitForQueue(pool, 1)
            _ = try await pool.unblock(held[0].token, lease: held[0].lease)
            try await Self.waitForReserved(pool, 1)
            let urgent = Task { try await pool.assign(AssignRequest(priority: 100, holder: "urgent"), wait: .seconds(10)) }
            try await Self.waitForQueue(pool, 2)
            #expect(try await pool.waiters().waiters.map(\.holder) == ["big", "urgent"])
            _ = try await pool.unblock(held[1].token, lease: held[1].lease)
            let got = try await big.value
            #expect(Set(got.map(\.token)) == Set(made))
            _ = try await pool.unblock(got[0].token, lease: got[0].lease)
            #expect(try await urgent.value[0].token == got[0].token)
        }
    }

    @Test func aHolderAtItsCapIsRefusedAtOnceAndOthersAreNot() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            _ = try await pool.generate(count: 6)
            let stats = try await pool.configure(.default, PoolSettings(maxPerHolder: 2))
            #expect(stats.maxPerHolder == 2)
            let first = try await pool.assign(holder: "greedy")
            _ = try await pool.assign(holder: "greedy")
            await #expect(throws: TokenPoolError.holderLimit(.default, holds: 2, asked: 1, max: 2)) { try await pool.assign(holder: "greedy") }
            // Never queued: a waiting assign at the cap is refused at once, too.
            await #expect(throws: TokenPoolError.holderLimit(.default, holds: 2, asked: 1, max: 2)) {
                try await pool.assign(holder: "greedy", wait: .seconds(5))
            }
            #expect(try await pool.stats().waiting == 0)
            // Three at once would pass it; two do not.
            await #expect(throws: TokenPoolError.holderLimit(.default, holds: 0, asked: 3, max: 2)) { try await pool.assign(count: 3, holder: "other") }
            #expect(try await pool.assign(count: 2, holder: "other").count == 2)
            // No holder: no cap.
            _ = try await pool.assign()
            _ = try await pool.assign()
            // A token given back (or lapsed, or deleted) no longer counts.
            _ = try await pool.unblock(first.token, lease: first.lease)
            #expect(try await pool.assign(holder: "greedy").holder == "greedy")
            // The count lives beside the holders, in the pool's slot.
            let keys = pool.keys(of: .default)
            #expect(try await pool.client.send("HGET", keys.held, "greedy").string == "2")
            #expect(try await pool.client.send("HGET", keys.held, "other").string == "2")
        }
    }

    @Test func aHolderCountFollowsLapsesDeletesAndDisables() async throws {
        try await Self.withReplicas(1, leaseTTL: .milliseconds(200)) { pools, _ in
            let pool = pools[0]
            _ = try await pool.generate(count: 3)
            _ = try await pool.configure(.default, PoolSettings(maxPerHolder: 3))
            let held = try await pool.assign(count: 3, holder: "h")
            try await pool.delete(held[0].token)
            _ = try await pool.disable(held[1].token)
            let keys = pool.keys(of: .default)
            #expect(try await pool.client.send("HGET", keys.held, "h").string == "1")
            try await Task.sleep(for: .milliseconds(300))
            _ = try await pool.reap(.default)
            #expect(try await pool.client.send("HGET", keys.held, "h") == .null)
        }
    }
}
