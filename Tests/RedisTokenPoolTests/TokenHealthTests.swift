import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// Tokens that rest and tokens that fail (#24), against a real Redis: cooldown on unblock and
/// by the pool's setting, failure reports and quarantine, disable and enable by hand.
struct TokenHealthTests {
    /// Sleeps until Redis's clock has passed `deadline` (ms), with a margin for the test's own steps.
    private static func sleep(past deadline: Int64?, from observed: Int64, margin: Duration = .milliseconds(60)) async throws {
        let deadline = try #require(deadline)
        try await Task.sleep(for: .milliseconds(max(0, deadline - observed)) + margin)
    }

    @Test func anUnblockWithACooldownRestsTheTokenUntilItsEnd() async throws {
        try await TokenPoolTests.withPool { pool in
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            let resting = try await pool.unblock(token, lease: held.lease, cooldown: .milliseconds(2_500))
            #expect(resting.state == .cooling && resting.lease == nil)
            let availableAt = try #require(resting.availableAt)
            #expect((2_490...2_520).contains(availableAt - resting.observedAt))
            // Not assignable, not free, listed as cooling.
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            let stats = try await pool.stats()
            #expect((stats.free, stats.cooling, stats.assigned) == (0, 1, 0))
            #expect(try await pool.tokens(.cooling).items.map(\.token) == [token])
            #expect(try await pool.tokens(.free).items.isEmpty)
            #expect(try await pool.inspect(token).state == .cooling)
            // A keep-alive extends its life only: it stays cooling.
            let kept = try await pool.keepAlive(token)
            #expect(kept.state == .cooling && kept.availableAt == availableAt)
            // The scripts name the cooling set themselves: the same key PoolKeys names.
            let keys = pool.keys(of: .default)
            #expect(try await pool.client.send("ZSCORE", keys.cooling, token.rawValue).string == String(availableAt))
            try await Self.sleep(past: availableAt, from: resting.observedAt)
            #expect(try await pool.stats().free == 1)
            let again = try await pool.assign()
            #expect(again.token == token && again.availableAt == nil)
            #expect(try await pool.stats().cooling == 0)
        }
    }

    @Test func thePoolsCooldownRestsEveryEndedAssignmentALapsedOneToo() async throws {
        try await TokenPoolTests.withPool { pool in
            let settings = PoolSettings(leaseTTL: .milliseconds(300), cooldown: .milliseconds(500))
            let configured = try await pool.configure(.default, settings)
            #expect(configured.cooldown == .milliseconds(500) && configured.leaseTTL == .milliseconds(300))
            let token = try await pool.generate()[0].token
            // Unblocked without a cooldown of its own: the pool's.
            let held = try await pool.assign()
            let rested = try await pool.unblock(token, lease: held.lease)
            #expect(rested.state == .cooling && (480...520).contains(rested.availableAt! - rested.observedAt))
            try await Self.sleep(past: rested.availableAt, from: rested.observedAt)
            // A holder that goes quiet: its lease lapses and the token rests before anyone gets it.
            let lapsing = try await pool.assign()
            try await Self.sleep(past: lapsing.leaseExpiresAt, from: lapsing.observedAt)
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            let cooling = try await pool.inspect(token)
            #expect(cooling.state == .cooling)
            try await Self.sleep(past: cooling.availableAt, from: cooling.observedAt)
            #expect(try await pool.assign().token == token)
            // A cooldown of the unblock's own beats the pool's.
            let own = try await pool.unblock(token, cooldown: .milliseconds(50))
            #expect((40...70).contains(own.availableAt! - own.observedAt))
            // Off again: an unblock frees at once.
            _ = try await pool.configure(.default, PoolSettings())
            try await Task.sleep(for: .milliseconds(120))
            let back = try await pool.assign()
            #expect(try await pool.unblock(token, lease: back.lease).state == .free)
        }
    }

    @Test func aWaitingAssignGetsACoolingTokenOnlyWhenItsRestEnds() async throws {
        try await WaitingAssignTests.withReplicas { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            let waiter = Task { try await pool.assign(wait: .seconds(5)) }
            try await WaitingAssignTests.waitForQueue(pool, 1)
            // Looked at 300 ms into a 1.5 s rest: a margin of 1.2 s for a busy machine.
            let resting = try await pool.unblock(token, lease: held.lease, cooldown: .milliseconds(1_500))
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await pool.stats().waiting == 1, "the waiter was served before the token's rest ended")
            let handed = try await waiter.value
            #expect(handed.token == token)
            // Handed over at a renewal (every 250 ms): within 250 ms of availableAt, plus the
            // pickup's round trip (a margin for a busy machine).
            #expect(handed.observedAt >= resting.availableAt!)
            #expect(handed.observedAt - resting.availableAt! < 750)
        }
    }

    @Test func failureReportsDisableATokenForItsQuarantineThenOnProbation() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.configure(.default, PoolSettings(maxFailures: 2, quarantine: .milliseconds(400)))
            let token = try await pool.generate()[0].token
            var held = try await pool.assign()
            let once = try await pool.unblock(token, lease: held.lease, outcome: .failure)
            #expect(once.state == .free && once.failures == 1 && once.reason == nil)
            // A success clears the count.
            held = try await pool.assign()
            #expect(held.failures == 1)
            #expect(try await pool.unblock(token, lease: held.lease).failures == 0)
            var disabled = held
            for expected in [1, 2] {
                held = try await pool.assign()
                disabled = try await pool.unblock(token, lease: held.lease, outcome: .failure)
                #expect(disabled.failures == expected)
            }
            // The second failure in a row disabled it, in that same step, for the quarantine.
            #expect(disabled.state == .disabled && disabled.reason == "failures")
            #expect(disabled.availableAt.map { $0 - disabled.observedAt } == 400)
            #expect(try await pool.inspect(token).state == .disabled)
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            #expect(try await pool.stats().disabled == 1)
            #expect(try await pool.tokens(.disabled).items.map(\.token) == [token])
            // Back after its quarantine, on probation: one failure short of the limit.
            try await Self.sleep(past: disabled.availableAt, from: disabled.observedAt)
            held = try await pool.assign()
            #expect(held.token == token && held.failures == 1 && held.reason == nil)
            let again = try await pool.unblock(token, lease: held.lease, outcome: .failure)
            #expect(again.state == .disabled && again.failures == 2)
            // A lapsed lease is neither a failure nor a success; a report without a lease counts nothing.
            #expect(try await pool.unblock(token, outcome: .failure).failures == 2)
        }
    }

    @Test func disableAndEnableByHand() async throws {
        try await TokenPoolTests.withPool { pool in
            let token = try await pool.generate(metadata: .shared(#"{"proxy":"10.0.0.7:3128"}"#))[0].token
            let held = try await pool.assign(holder: "crawler-3")
            // The holder's say: its own lease only.
            await #expect(throws: TokenPoolError.leaseConflict(token, lease: held.lease! + 1)) {
                try await pool.disable(token, lease: held.lease! + 1, reason: "dead")
            }
            #expect(try await pool.inspect(token).state == .assigned)
            let disabled = try await pool.disable(token, lease: held.lease, reason: "refuses connections")
            #expect(disabled.state == .disabled && disabled.reason == "refuses connections" && disabled.availableAt == nil)
            #expect(disabled.lease == nil && disabled.holder == nil && disabled.metadata == #"{"proxy":"10.0.0.7:3128"}"#)
            let keys = pool.keys(of: .default)
            #expect(try await pool.client.send("ZSCORE", keys.disabled, token.rawValue).string == "inf")
            #expect(try await pool.client.send("HGET", keys.health, token.rawValue).string == "0 refuses connections")
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            // Unblock and keep-alive leave it disabled; keep-alive extends its life.
            #expect(try await pool.unblock(token).state == .disabled)
            let kept = try await pool.keepAlive(token)
            #expect(kept.state == .disabled && kept.expiresAt >= disabled.expiresAt)
            let stats = try await pool.stats()
            #expect((stats.free, stats.disabled, stats.total) == (0, 1, 1))
            // Enable: free again, failures and reason gone; enabling a free token changes nothing.
            let enabled = try await pool.enable(token)
            #expect(enabled.state == .free && enabled.reason == nil && enabled.failures == 0)
            #expect(try await pool.enable(token) == enabled)
            #expect(try await pool.assign().token == token)
            // Delete works in every state.
            _ = try await pool.disable(token)
            try await pool.delete(token)
            await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.inspect(token) }
            #expect(try await pool.stats().disabled == 0)
        }
    }

    @Test func aDisabledOrCoolingTokenStillDiesWithoutKeepAlive() async throws {
        // Long enough for the four calls before the sleep on a loaded CI machine (400 ms was not).
        try await TokenPoolTests.withPool(keepAliveTTL: .milliseconds(1_500)) { pool in
            let made = try await pool.generate(count: 2).map(\.token)
            _ = try await pool.disable(made[0])
            let cooling = try await pool.unblock(made[1], lease: try await pool.assign().lease, cooldown: .seconds(60))
            #expect(cooling.state == .cooling)
            try await Self.sleep(past: cooling.expiresAt, from: cooling.observedAt)
            _ = try await pool.reap(.default)
            for token in made {
                await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.inspect(token) }
            }
            let stats = try await pool.stats()
            #expect((stats.total, stats.cooling, stats.disabled) == (0, 0, 0))
        }
    }

    @Test func aRetriedDisableWithItsIdempotencyKeyAnswersTheSame() async throws {
        try await TokenPoolTests.withPool { pool in
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            let first = try await pool.disable(token, lease: held.lease, reason: "locked", idempotencyKey: "k-1")
            // The lease named is gone now, yet the retry is the same call: no 409.
            let retry = try await pool.disable(token, lease: held.lease, reason: "locked", idempotencyKey: "k-1")
            #expect(retry == first)
            // Without the key, the same lease is a conflict.
            await #expect(throws: TokenPoolError.self) { try await pool.disable(token, lease: held.lease) }
        }
    }

    @Test func aTokenAtItsRateBudgetCoolsUntilItsNextAssignmentIsAllowed() async throws {
        try await TokenPoolTests.withPool { pool in
            let configured = try await pool.configure(.default, PoolSettings(rateLimit: RateLimit(assigns: 2, per: .milliseconds(1500))))
            #expect(configured.rateLimit == RateLimit(assigns: 2, per: .milliseconds(1500)))
            let token = try await pool.generate()[0].token
            let first = try await pool.assign()
            #expect(try await pool.unblock(token, lease: first.lease).state == .free)
            let second = try await pool.assign()
            // Its second assignment in the window: given back, it rests until the first is 1.5 s
            // old; a cooldown shorter than that does not shorten it.
            let resting = try await pool.unblock(token, lease: second.lease, cooldown: .milliseconds(10))
            #expect(resting.state == .cooling)
            let availableAt = try #require(resting.availableAt)
            #expect(availableAt >= first.observedAt + 1500 && availableAt <= first.observedAt + 1510)
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            try await Self.sleep(past: availableAt, from: resting.observedAt)
            let third = try await pool.assign()
            #expect(third.observedAt >= availableAt)
            // A cooldown longer than what is left of the budget wins.
            let short = try await pool.unblock(token, lease: third.lease, cooldown: .milliseconds(700))
            #expect(short.availableAt == short.observedAt + 700)
            // No limit again: free at once, the log forgotten.
            _ = try await pool.configure(.default, PoolSettings())
            try await Self.sleep(past: short.availableAt, from: short.observedAt)
            for _ in 0..<3 {
                let held = try await pool.assign()
                #expect(try await pool.unblock(token, lease: held.lease).state == .free)
            }
        }
    }

    @Test func theNewStatesAreEvents() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.configure(.default, PoolSettings(maxFailures: 1, quarantine: .milliseconds(200)))
            let token = try await pool.generate()[0].token
            let last = try await pool.lastEventID(in: .default)
            let resting = try await pool.unblock(token, lease: try await pool.assign().lease, cooldown: .milliseconds(100))
            try await Self.sleep(past: resting.availableAt, from: resting.observedAt)
            _ = try await pool.reap(.default)
            let failed = try await pool.unblock(token, lease: try await pool.assign().lease, outcome: .failure)
            try await Self.sleep(past: failed.availableAt, from: failed.observedAt)
            _ = try await pool.reap(.default)
            _ = try await pool.disable(token, reason: "by hand")
            _ = try await pool.enable(token)
            let events = try await pool.events(in: .default, after: last)
            #expect(events.map(\.type) == [
                "assigned", "unblocked", "cooling", "available", "assigned", "disabled", "enabled", "disabled", "enabled",
            ])
            #expect(events[2].availableAt == resting.availableAt)
            #expect(events[5].availableAt == failed.availableAt && events[5].reason == "failures")
            #expect(events[7].availableAt == nil && events[7].reason == "by hand")
        }
    }
}
