import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// Waiting assign against a real Redis: several `TokenPool`s on one Redis stand for replicas,
/// each with its own waiting room (channel, renewals).
struct WaitingAssignTests {
    /// `replicas` pools on one fresh Redis, their waiting rooms running.
    static func withReplicas<T: Sendable>(
        _ replicas: Int = 1,
        leaseTTL: Duration = .seconds(60),
        _ body: ([TokenPool], RedisTestServer) async throws -> T
    ) async throws -> T {
        try await withRedis { server, client in
            let pools = (0..<replicas).map { _ in
                TokenPool(client: client, settings: TokenPoolSettings(leaseTTL: leaseTTL), logger: testLogger())
            }
            return try await withThrowingTaskGroup(of: Void.self) { group in
                for pool in pools { group.addTask { try await pool.waitingRoom.run() } }
                defer { group.cancelAll() }
                return try await body(pools, server)
            }
        }
    }

    /// Waits until the pool's queue holds `count` waiters (a join is one script; this only
    /// orders the test's steps after it).
    static func waitForQueue(_ pool: TokenPool, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while try await pool.stats().waiting != count {
            try #require(ContinuousClock.now < deadline, "the queue never held \(count)")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func aWaitingAssignGetsTheNextTokenFreedUnderANewLease() async throws {
        try await Self.withReplicas { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let first = try await pool.assign()
            let waiter = Task { try await pool.assign(wait: .seconds(5)) }
            try await Self.waitForQueue(pool, 1)
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 1, free: 0, assigned: 1, waiting: 1))
            _ = try await pool.unblock(token, lease: first.lease)
            let handed = try await waiter.value
            #expect(handed.token == token && handed.state == .assigned)
            #expect(try #require(handed.lease) > first.lease!)
            // A whole lease from the pickup, not the short hand-over one.
            #expect(try #require(handed.leaseExpiresIn) > .seconds(59))
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 1, free: 0, assigned: 1, waiting: 0))
            // The lease is its own: the old one is stale, the new one keeps it alive.
            await #expect(throws: TokenPoolError.leaseConflict(token, lease: 0)) { try await pool.keepAlive(token, lease: first.lease) }
            #expect(try await pool.keepAlive(token, lease: handed.lease).lease == handed.lease)
        }
    }

    @Test func waitersAreServedInJoiningOrderAcrossReplicas() async throws {
        try await Self.withReplicas(3) { pools, _ in
            let token = try await pools[0].generate()[0].token
            var lease = try #require(try await pools[0].assign().lease)
            let order = Order()
            var waiters: [Task<Void, any Error>] = []
            for index in 0..<20 {
                let pool = pools[index % 3]
                waiters.append(Task {
                    let record = try await pool.assign(wait: .seconds(30))
                    await order.append(index, record)
                })
                try await Self.waitForQueue(pools[0], index + 1)
                try await Task.sleep(for: .milliseconds(50))
            }
            for served in 1...20 {
                _ = try await pools[served % 3].unblock(token, lease: lease)
                lease = try #require(try await order.waitFor(served).lease)
            }
            for waiter in waiters { try await waiter.value }
            #expect(await order.indices == Array(0..<20))
        }
    }

    /// The contract is 404 within 100 ms of the deadline; the load harness (`Tests/load/run_wait.py`)
    /// checks that on a quiet machine. Here, among every other suite running at once, the margin is wider.
    @Test func aWaitThatRunsOutIsNoFreeTokenSoonAfterItsDeadline() async throws {
        try await Self.withReplicas { pools, _ in
            _ = try await pools[0].generate()
            _ = try await pools[0].assign()
            let start = ContinuousClock.now
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pools[0].assign(wait: .seconds(1)) }
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .seconds(1) && elapsed < .milliseconds(1500), "answered after \(elapsed)")
            #expect(try await pools[0].stats().waiting == 0)
        }
    }

    @Test func aCancelledWaiterLeavesAndTheTokenGoesToTheNext() async throws {
        try await Self.withReplicas(2) { pools, _ in
            let token = try await pools[0].generate()[0].token
            let held = try await pools[0].assign()
            let gone = Task { try await pools[0].assign(wait: .seconds(30)) }
            try await Self.waitForQueue(pools[0], 1)
            let next = Task { try await pools[1].assign(wait: .seconds(30)) }
            try await Self.waitForQueue(pools[0], 2)
            gone.cancel()
            await #expect(throws: CancellationError.self) { try await gone.value }
            try await Self.waitForQueue(pools[0], 1)
            _ = try await pools[0].unblock(token, lease: held.lease)
            #expect(try await next.value.token == token)
        }
    }

    @Test func aWaitCancelledFromOutsideItsTaskLeavesTheQueueAndACancelBeforeTheWaitEndsItAtOnce() async throws {
        try await Self.withReplicas(1) { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            // Cancelled while it waits: the place is given up, the task itself never cancelled.
            let cancellation = WaitCancellation()
            guard case .queued(let place) = try await pool.startAssign(wait: .seconds(30)) else { throw TokenPoolError.noFreeToken(.default) }
            let waiting = Task { try await place.tokens(cancellation: cancellation) }
            try await Self.waitForQueue(pool, 1)
            cancellation.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            try await Self.waitForQueue(pool, 0)
            // Cancelled before its wait began (the client left first): it never waits.
            let early = WaitCancellation()
            early.cancel()
            guard case .queued(let second) = try await pool.startAssign(wait: .seconds(30)) else { throw TokenPoolError.noFreeToken(.default) }
            let started = ContinuousClock.now
            await #expect(throws: CancellationError.self) { try await second.tokens(cancellation: early) }
            #expect(ContinuousClock.now - started < .seconds(5))
            try await Self.waitForQueue(pool, 0)
            // Nobody took the token meanwhile: it is free for the next assign once unblocked.
            _ = try await pool.unblock(token, lease: held.lease)
            #expect(try await pool.assign().token == token)
        }
    }

    @Test func aTokenHandedToAWaiterNoReplicaAnswersForGoesOnWithinASecond() async throws {
        try await Self.withReplicas { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            // A replica that died right after its waiter joined: nobody hears its channel or renews it.
            let dead = try await pool.runAssign(in: .default, idempotencyKey: nil, holder: nil, waiter: ("tokenpool:handover:dead#1", .seconds(30)))
            guard case .queued = dead else { Issue.record("the dead replica's waiter was not queued"); return }
            let next = Task { try await pool.assign(wait: .seconds(10)) }
            try await Self.waitForQueue(pool, 2)
            let freed = ContinuousClock.now
            _ = try await pool.unblock(token, lease: held.lease)
            #expect(try await next.value.token == token)
            let elapsed = ContinuousClock.now - freed
            // The dead waiter's `until` (at most 750 ms after its join) and one renewal (250 ms),
            // with room for a machine busy with every other suite.
            #expect(elapsed < .milliseconds(1500), "the next waiter got it after \(elapsed)")
        }
    }

    @Test func aGoneReplicasWaitersLeaveTheQueueAtTheReapAfterItsVouchingLapsed() async throws {
        try await Self.withReplicas { pools, _ in
            let pool = pools[0]
            // A replica that queued three waiters and died: nobody renews them.
            for number in 1...3 {
                let queued = try await pool.runAssign(
                    in: .default, idempotencyKey: nil, holder: nil, waiter: ("tokenpool:handover:gone#\(number)", .seconds(30)))
                guard case .queued = queued else { Issue.record("waiter \(number) was not queued"); return }
            }
            let keys = pool.keys(of: .default)
            let base = String(keys.free.dropLast("free".count))
            let replicaKeys = [base + "replicas", base + "waiting:tokenpool:handover:gone", base + "waiting:tokenpool:handover:gone:0"]
            #expect(try await pool.client.send("EXISTS", replicaKeys[0], replicaKeys[1], replicaKeys[2]).int == 3)
            // Vouched for 750 ms from the join: a reap now keeps them, one after it drops all three.
            _ = try await pool.reap(.default)
            #expect(try await pool.stats().waiting == 3)
            try await Task.sleep(for: .milliseconds(900))
            _ = try await pool.reap(.default)
            #expect(try await pool.stats().waiting == 0)
            #expect(try await pool.client.send("EXISTS", replicaKeys[0], replicaKeys[1], replicaKeys[2]).int == 0)
        }
    }

    @Test func renewingManyWaitersRunsNoRedisCommandPerWaiter() async throws {
        try await Self.withReplicas { pools, _ in
            let pool = pools[0]
            let waiters = (0..<300).map { _ in Task { try await pool.assign(wait: .seconds(20)) } }
            defer { waiters.forEach { $0.cancel() } }
            try await Self.waitForQueue(pool, 300)
            _ = try await pool.client.send("CONFIG", "RESETSTAT")
            try await Task.sleep(for: .seconds(1))
            let info = try await pool.client.send("INFO", "commandstats").string ?? ""
            let calls = info.split(separator: "\r\n").compactMap { line -> Int? in
                guard line.hasPrefix("cmdstat_"), let field = line.split(separator: ",").first?.split(separator: "=").last else { return nil }
                return Int(field)
            }
            // Four renewals of all 300 in one call each, some ten commands a call; renewing each
            // waiter would be three commands a waiter a renewal (3,600).
            #expect(calls.reduce(0, +) < 300, "\(calls.reduce(0, +)) commands in a second: \(info)")
            #expect(try await pool.stats().waiting == 300)
        }
    }

    @Test func generateAndALapsedLeaseHandTokensToWaiters() async throws {
        try await Self.withReplicas(leaseTTL: .seconds(2)) { pools, _ in
            let pool = pools[0]
            let waiter = Task { try await pool.assign(wait: .seconds(5)) }
            try await Self.waitForQueue(pool, 1)
            // The lease starts after this instant and ends at most 2 s after the answer.
            let earliest = ContinuousClock.now + .seconds(2)
            let made = try await pool.generate()[0].token
            let first = try await waiter.value
            let lapses = ContinuousClock.now + (first.leaseExpiresIn ?? .zero)
            #expect(first.token == made)
            #expect(try await pool.stats().free == 0)

            // The lease lapses without a word from its holder; the renewal hands it on.
            let lapsing = Task { try await pool.assign(wait: .seconds(8)) }
            try await Self.waitForQueue(pool, 1)
            try #require(ContinuousClock.now < lapses, "the machine is too slow for this test's lease")
            let second = try await lapsing.value
            #expect(second.token == made && second.lease != first.lease)
            // Not before the lease lapsed; within a renewal (250 ms) after, with room for a busy machine.
            #expect(ContinuousClock.now >= earliest)
            #expect(ContinuousClock.now < lapses + .milliseconds(1000))
        }
    }

    @Test func aRetryWithTheSameIdempotencyKeyTakesThePlaceAndNeverASecondToken() async throws {
        try await Self.withReplicas(2) { pools, _ in
            let token = try await pools[0].generate()[0].token
            let held = try await pools[0].assign()
            let first = Task { try await pools[0].assign(idempotencyKey: "k-1", wait: .seconds(30)) }
            try await Self.waitForQueue(pools[0], 1)
            let retry = Task { try await pools[1].assign(idempotencyKey: "k-1", wait: .seconds(30)) }
            // The retry's replica sees the same queue length: one place, now the retry's.
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await pools[0].stats().waiting == 1)
            await #expect(throws: TokenPoolError.waitInterrupted(.default)) { try await first.value }
            _ = try await pools[0].unblock(token, lease: held.lease)
            let got = try await retry.value
            #expect(got.token == token)
            // And the key remembers it, as for any assign.
            let again = try await pools[0].assign(idempotencyKey: "k-1", wait: .seconds(1))
            #expect(again.token == token && again.lease == got.lease)
        }
    }

    /// leave.lua 'drop' on a place a retry took ('taken' in handed) changes nothing of the retry's.
    @Test func aCallerThatLeavesAfterItsRetryTookThePlaceLeavesTheRetryAlone() async throws {
        try await Self.withReplicas(2) { pools, _ in
            let token = try await pools[0].generate()[0].token
            let held = try await pools[0].assign()
            let first = try await pools[0].startAssign(idempotencyKey: "k-2", wait: .seconds(30))
            guard case .queued(let place) = first else { Issue.record("the first call was not queued"); return }
            let retry = Task { try await pools[1].assign(idempotencyKey: "k-2", wait: .seconds(30)) }
            try await Self.waitForQueue(pools[0], 1)
            try await Task.sleep(for: .milliseconds(50))
            let keys = pools[0].keys(of: .default)
            let leave = try await pools[0].waitingRoom.leave(place.id, .drop, in: .default, idempotencyRecord: keys.idempotencyRecord("assign", "k-2"))
            guard case .gone = leave else { Issue.record("leave answered \(leave)"); return }
            #expect(try await pools[0].stats().waiting == 1)
            _ = try await pools[0].unblock(token, lease: held.lease)
            #expect(try await retry.value.token == token)
            pools[0].waitingRoom.remove(place.id)
        }
    }

    @Test func aWaiterRedisForgotQueuesAgainAndStillGetsTheNextToken() async throws {
        try await Self.withReplicas { pools, _ in
            let pool = pools[0]
            let token = try await pool.generate()[0].token
            let held = try await pool.assign()
            let waiter = Task { try await pool.assign(wait: .seconds(30)) }
            try await Self.waitForQueue(pool, 1)
            let keys = pool.keys(of: .default)
            // Both gone (the next renewal may put it back at any moment, so not asked of stats).
            #expect(try await pool.client.send("DEL", keys.queue, keys.waiters).int == 2)
            // The next renewal finds it gone; it queues again for the time it has left.
            try await Self.waitForQueue(pool, 1)
            _ = try await pool.unblock(token, lease: held.lease)
            #expect(try await waiter.value.token == token)
        }
    }
}

/// The order in which waiters were served, awaited one by one.
private actor Order {
    private(set) var indices: [Int] = []
    private var records: [TokenRecord] = []

    func append(_ index: Int, _ record: TokenRecord) {
        self.indices.append(index)
        self.records.append(record)
    }

    /// The `count`-th record served, once it is.
    func waitFor(_ count: Int) async throws -> TokenRecord {
        let deadline = ContinuousClock.now + .seconds(5)
        while self.records.count < count {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(2))
        }
        return self.records[count - 1]
    }
}
