import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// An API key's rate, counted by the request's first script call in the same Redis call.
struct RateChargeTests {
    @Test func theFirstScriptCallCountsTheRateAndARefusedOneRunsNothing() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.generate(count: 10)
            let rates = RateLimiter(pool: pool)
            let calls = try await Self.functionCalls(pool)
            // One a second with a burst of two: two assigns go, the third is refused and takes nothing.
            for attempt in 0..<3 {
                let charge = rates.charge(key: "crawler", perSecond: 1, burst: 2)
                if attempt < 2 {
                    _ = try await RateCharge.$current.withValue(charge) { try await pool.assign() }
                } else {
                    await #expect(throws: RateLimited.self) { try await RateCharge.$current.withValue(charge) { try await pool.assign() } }
                }
                #expect(charge.wasTaken)
            }
            // Three calls in all, each one assign with its rate: nothing by itself.
            #expect(try await Self.functionCalls(pool) - calls == 3)
            #expect(try await pool.stats().assigned == 2)
            #expect(try await pool.client.send("EXISTS", "tokenpool:rate:crawler").int == 1)
        }
    }

    @Test func aRequestOfManyCallsIsCountedOnce() async throws {
        try await TokenPoolTests.withPool { pool in
            // One request a minute: the next is refused however long the first takes on a busy
            // machine (at one a second, a slow generate let the rate refill before the check).
            let charge = RateLimiter(pool: pool).charge(key: "batch", perSecond: 1.0 / 60, burst: 1)
            // 2,500 tokens are made by three generate calls; the rate (a burst of one) lets the request through once.
            let made = try await RateCharge.$current.withValue(charge) { try await pool.generate(count: 2_500) }
            #expect(made.count == 2_500)
            let next = RateLimiter(pool: pool).charge(key: "batch", perSecond: 1.0 / 60, burst: 1)
            await #expect(throws: RateLimited.self) { try await RateCharge.$current.withValue(next) { try await pool.stats() } }
        }
    }

    private static func functionCalls(_ pool: TokenPool) async throws -> Int {
        let info = try await pool.client.send("INFO", "commandstats").string ?? ""
        guard let line = info.split(separator: "\r\n").first(where: { $0.hasPrefix("cmdstat_fcall:") }),
            let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
        else { return 0 }
        return Int(calls) ?? 0
    }
}
