import Foundation
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// Every script's behaviour against a real Redis, with short TTLs.
struct TokenPoolTests {
    static func withPool<T: Sendable>(
        leaseTTL: Duration = .seconds(60),
        keepAliveTTL: Duration = .seconds(300),
        _ body: (TokenPool) async throws -> T
    ) async throws -> T {
        try await withRedis { _, client in
            try await body(TokenPool(client: client, settings: TokenPoolSettings(leaseTTL: leaseTTL, keepAliveTTL: keepAliveTTL)))
        }
    }

    @Test func assignHandsOutEachFreeTokenOnceThenAnswersNoFreeToken() async throws {
        try await Self.withPool { pool in
            let generated = try await pool.generate(count: 3)
            var assigned: [TokenRecord] = []
            for _ in 0..<3 { assigned.append(try await pool.assign()) }
            #expect(Set(assigned.map(\.token)) == Set(generated.map(\.token)))
            #expect(assigned.allSatisfy { $0.state == .assigned && $0.leaseExpiresAt != nil })
            #expect(assigned.map(\.lease) == [1, 2, 3])
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
        }
    }

    @Test func assignPicksAtRandom() async throws {
        try await Self.withPool { pool in
            _ = try await pool.generate(count: 100)
            var seen = Set<Token>()
            for _ in 0..<30 {
                let record = try await pool.assign()
                seen.insert(record.token)
                _ = try await pool.unblock(record.token, lease: record.lease)
            }
            // A fixed order would give one token; 30 uniform draws from 100 give about 26.
            #expect(seen.count > 10)
        }
    }

    @Test func unblockFreesTheTokenAndUnblockingAFreeTokenChangesNothing() async throws {
        try await Self.withPool { pool in
            let token = try await pool.generate()[0].token
            let assigned = try await pool.assign()
            let freed = try await pool.unblock(token)
            #expect(freed.state == .free && freed.lease == nil && freed.expiresAt == assigned.expiresAt)
            #expect(try await pool.unblock(token).state == .free)
            #expect(try await pool.assign().token == token)
        }
    }

    @Test func aWrongOrStaleLeaseIsAConflictAndChangesNothing() async throws {
        try await Self.withPool { pool in
            let token = try await pool.generate()[0].token
            let record = try await pool.assign()
            let lease = try #require(record.lease)
            await #expect(throws: TokenPoolError.leaseConflict(token, lease: lease + 1)) {
                try await pool.unblock(token, lease: lease + 1)
            }
            await #expect(throws: TokenPoolError.self) { try await pool.keepAlive(token, lease: lease + 1) }
            #expect(try await pool.inspect(token) == record)
            _ = try await pool.unblock(token, lease: lease)
            // A free token has no current lease: the old one is a conflict now.
            await #expect(throws: TokenPoolError.leaseConflict(token, lease: lease)) { try await pool.unblock(token, lease: lease) }
            await #expect(throws: TokenPoolError.leaseConflict(token, lease: lease)) { try await pool.keepAlive(token, lease: lease) }
        }
    }

    @Test func aLapsedLeaseFreesTheTokenAndItsHolderCannotTouchTheNextHolder() async throws {
        try await Self.withPool(leaseTTL: .milliseconds(1500)) { pool in
            let token = try await pool.generate()[0].token
            let first = try await pool.assign()
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            try await Task.sleep(for: .milliseconds(1800))
            #expect(try await pool.inspect(token).state == .free)
            let second = try await pool.assign()
            #expect(second.token == token)
            #expect(try #require(second.lease) > #require(first.lease))
            await #expect(throws: TokenPoolError.self) { try await pool.unblock(token, lease: first.lease) }
            await #expect(throws: TokenPoolError.self) { try await pool.keepAlive(token, lease: first.lease) }
            #expect(try await pool.inspect(token).lease == second.lease)
        }
    }

    @Test func keepAliveExtendsTheLeaseOfAnAssignedToken() async throws {
        // Margins of 0.8 s each way: keep-alive before the first deadline, the check after it
        // but before the extended one.
        try await Self.withPool(leaseTTL: .seconds(2)) { pool in
            let token = try await pool.generate()[0].token
            let record = try await pool.assign()
            try await Task.sleep(for: .milliseconds(1200))
            let kept = try await pool.keepAlive(token, lease: record.lease)
            #expect(kept.lease == record.lease)
            #expect(try #require(kept.leaseExpiresAt) > #require(record.leaseExpiresAt))
            try await Task.sleep(for: .milliseconds(1200))
            // 2.4 s after assign, past the first deadline but within the extended one.
            #expect(try await pool.inspect(token).state == .assigned)
        }
    }

    @Test func aTokenWithoutKeepAliveDiesAndIsNeverServedAgain() async throws {
        try await Self.withPool(keepAliveTTL: .milliseconds(1500)) { pool in
            let free = try await pool.generate()[0].token
            let held = try await pool.generate()[0].token
            _ = try await pool.assign()  // one of them
            try await Task.sleep(for: .milliseconds(1800))
            for token in [free, held] {
                await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.inspect(token) }
                await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.keepAlive(token) }
                await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.unblock(token) }
            }
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
        }
    }

    @Test func onlyGenerateAndKeepAliveExtendLife() async throws {
        try await Self.withPool(keepAliveTTL: .seconds(2)) { pool in
            let kept = try await pool.generate()[0]
            let other = try await pool.generate()[0]
            try await Task.sleep(for: .milliseconds(1200))
            let extended = try await pool.keepAlive(kept.token)
            #expect(extended.expiresAt > kept.expiresAt)
            // Assign and unblock leave the other token's life where it was.
            while try await pool.assign().token != other.token {}
            #expect(try await pool.unblock(other.token).expiresAt == other.expiresAt)
            try await Task.sleep(for: .milliseconds(1200))
            #expect(try await pool.inspect(kept.token).expiresAt == extended.expiresAt)
            await #expect(throws: TokenPoolError.self) { try await pool.inspect(other.token) }
        }
    }

    @Test func deleteRemovesTheTokenForGood() async throws {
        try await Self.withPool { pool in
            let token = try await pool.generate()[0].token
            try await pool.delete(token)
            await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.delete(token) }
            await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.inspect(token) }
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 0, free: 0, assigned: 0, leaseTTL: pool.settings.leaseTTL, keepAliveTTL: pool.settings.keepAliveTTL))
        }
    }

    @Test func poolsAreSeparate() async throws {
        try await Self.withPool { pool in
            let red = try #require(PoolName("red"))
            let token = try await pool.generate(count: 2, in: red)[0].token
            await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pool.assign() }
            await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.inspect(token) }
            _ = try await pool.assign(in: red)
            #expect(try await pool.stats(of: red) == PoolStats(pool: red, total: 2, free: 1, assigned: 1))
            #expect(try await pool.knownPools() == [red])
        }
    }

    @Test func reapingReturnsLapsedLeasesAndDropsDeadTokensInBoundedBatches() async throws {
        // Waits are timed from the deadlines Redis gave (as durations), so a slow machine only
        // makes the test longer, never wrong. The lease is long enough that 25 assigns on a machine
        // busy starting every other suite's redis-server (seen: over 2 s) end before the first lapses.
        try await Self.withPool(leaseTTL: .seconds(5), keepAliveTTL: .seconds(11)) { pool in
            let generated = try await pool.generate(count: 25)
            let lifeEnds = ContinuousClock.now + .milliseconds(generated[0].expiresAt - generated[0].observedAt)
            var lastLeaseEnds = ContinuousClock.now
            for _ in 0..<25 {
                let record = try await pool.assign()
                lastLeaseEnds = ContinuousClock.now + (record.leaseExpiresIn ?? .zero)
            }
            #expect(try await pool.stats().assigned == 25)
            try await Task.sleep(until: lastLeaseEnds + .milliseconds(200))
            try #require(ContinuousClock.now < lifeEnds - .milliseconds(500), "the machine is too slow for this test's TTLs")
            #expect(try await pool.stats().assigned == 25)
            #expect(try await pool.reap(.default, batch: 10) == (10, 0))
            #expect(try await pool.reap(.default, batch: 100) == (15, 0))
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 25, free: 25, assigned: 0, leaseTTL: pool.settings.leaseTTL, keepAliveTTL: pool.settings.keepAliveTTL))
            try await Task.sleep(until: lifeEnds + .milliseconds(200))
            let reaper = Reaper(pool: pool, logger: testLogger())
            #expect(try await reaper.reapAll() == (0, 25, false))
            #expect(try await pool.stats() == PoolStats(pool: .default, total: 0, free: 0, assigned: 0, leaseTTL: pool.settings.leaseTTL, keepAliveTTL: pool.settings.keepAliveTTL))
            let keys = pool.keys(of: .default)
            // What is left: the counter and the events stream (history, capped).
            #expect(try await pool.client.send(["EXISTS"] + keys.scriptKeys.filter { $0 != keys.seq && $0 != keys.events }).int == 0)
        }
    }

    @Test func concurrentAssignsFromManyTasksAndClientsNeverShareAToken() async throws {
        try await withRedis { server, client in
            // Three clients stand for three replicas on one Redis.
            let others = try (0..<2).map { _ in RedisClient(configuration: try RedisConfiguration(url: server.url), logger: testLogger()) }
            try await withRunning(others[0]) {
                try await withRunning(others[1]) {
                    let pools = ([client] + others).map { TokenPool(client: $0) }
                    _ = try await pools[0].generate(count: 300)
                    let tokens = try await withThrowingTaskGroup(of: [Token].self) { group in
                        for worker in 0..<60 {
                            group.addTask {
                                var mine: [Token] = []
                                for _ in 0..<5 { mine.append(try await pools[worker % 3].assign().token) }
                                return mine
                            }
                        }
                        return try await group.reduce(into: []) { $0 += $1 }
                    }
                    #expect(tokens.count == 300)
                    #expect(Set(tokens).count == 300)
                    await #expect(throws: TokenPoolError.noFreeToken(.default)) { try await pools[1].assign() }
                }
            }
        }
    }

    @Test func anIdempotencyKeyGivesARetryTheFirstAssignmentInsteadOfASecondToken() async throws {
        try await Self.withPool(leaseTTL: .seconds(5)) { pool in
            _ = try await pool.generate(count: 5)
            let first = try await pool.assign(idempotencyKey: "job-1")
            let again = try await pool.assign(idempotencyKey: "job-1")
            #expect(again.token == first.token && again.lease == first.lease)
            let other = try await pool.assign(idempotencyKey: "job-2")
            #expect(other.token != first.token)
            #expect(try await pool.stats().assigned == 2)
            // Keys belong to one pool.
            let red = try #require(PoolName("red"))
            _ = try await pool.generate(count: 1, in: red)
            #expect(try await pool.assign(in: red, idempotencyKey: "job-1").pool == red)
            // Once the assignment ends, the key makes a new one: never two live at once.
            _ = try await pool.unblock(first.token, lease: first.lease)
            let next = try await pool.assign(idempotencyKey: "job-1")
            #expect(try #require(next.lease) > #require(other.lease))
            #expect(try await pool.assign(idempotencyKey: "job-1") == next)
        }
    }

    @Test func anIdempotentBatchIsGeneratedOnce() async throws {
        try await Self.withPool { pool in
            let first = try await pool.generate(count: 1500, idempotencyKey: "fill-1")
            let again = try await pool.generate(count: 1500, idempotencyKey: "fill-1")
            #expect(again == first)
            #expect(try await pool.stats().total == 1500)
            // A replay answers with the tokens still there; when none is left, the key generates anew.
            try await pool.delete(first[0].token)
            #expect(try await pool.generate(count: 1500, idempotencyKey: "fill-1") == Array(first.dropFirst()))
            let single = try await pool.generate(count: 1, idempotencyKey: "one")
            try await pool.delete(single[0].token)
            #expect(try await pool.generate(count: 1, idempotencyKey: "one") != single)
            _ = try await pool.generate(count: 3, idempotencyKey: "fill-2")
            #expect(try await pool.stats().total == 1503)
        }
    }

    @Test func scriptsAreLoadedAgainAfterRedisForgetsThem() async throws {
        try await Self.withPool { pool in
            _ = try await pool.generate(count: 2)
            _ = try await pool.client.send("SCRIPT", "FLUSH")
            _ = try await pool.client.send("FUNCTION", "FLUSH")
            #expect(try await pool.assign().state == .assigned)
            #expect(try await pool.stats().assigned == 1)
        }
    }

    /// One library of functions, named after the scripts' text: another version's library (a
    /// rolling upgrade) sits beside it, and a script that only reads is flagged so.
    @Test func theScriptsAreOneLibraryNamedAfterTheirTextBesideOtherVersions() async throws {
        try await Self.withPool { pool in
            let older = PoolScript.library.source.replacingOccurrences(of: PoolScript.libraryName, with: "tokenpool_0ld")
            #expect(try await pool.client.send("FUNCTION", "LOAD", older).string == "tokenpool_0ld")
            _ = try await pool.generate(count: 2)
            let keys = pool.keys(of: .default).scriptKeys
            #expect(try await pool.client.send(["FCALL", "tokenpool_0ld_assign", String(keys.count)] + keys + ["60000", "16", "32", "60000"]).array?.first?.string == "ok")
            #expect(try await pool.assign().state == .assigned)
            let libraries = try await pool.client.send("FUNCTION", "LIST", "LIBRARYNAME", "tokenpool_*").array ?? []
            #expect(libraries.count == 2)
            // FCALL_RO runs only functions flagged no-writes.
            let stats = try await pool.client.send(["FCALL_RO", "\(PoolScript.libraryName)_stats", String(keys.count)] + keys).array
            #expect(stats?.prefix(3).compactMap(\.int) == [2, 0, 2])
            await #expect(throws: RedisServerError.self) {
                try await pool.client.send(["FCALL_RO", "\(PoolScript.libraryName)_assign", String(keys.count)] + keys + ["60000", "16", "32", "60000"])
            }
        }
    }

    /// The library's functions share the prelude's locals; each call starts with them reset, so
    /// a script that forgot `begin()` fails instead of reading the previous call's clock.
    @Test func noFunctionOfTheLibraryReadsThePreviousCallsClock() async throws {
        try await Self.withPool { pool in
            let library = PoolScript.makeLibrary(
                name: "tokenpool_probe", prelude: LuaSource.prelude,
                scripts: [("begins", "begin()\nreturn nowText", true), ("peeks", "return nowText or 'unset'", true)]
            )
            #expect(try await pool.client.send("FUNCTION", "LOAD", library.source).string == "tokenpool_probe")
            let keys = pool.keys(of: .default).scriptKeys
            let now = try await pool.client.send(["FCALL", "tokenpool_probe_begins", String(keys.count)] + keys).string
            #expect(now.flatMap { Int64($0) } != nil)
            #expect(try await pool.client.send(["FCALL", "tokenpool_probe_peeks", String(keys.count)] + keys).string == "unset")
        }
    }

    /// A Redis without functions (before 7, or an ACL without FCALL): the scripts go by EVALSHA.
    @Test func withoutFunctionsTheScriptsGoByEVALSHA() async throws {
        let server = try await RedisTestServer.start(extraArguments: ["--rename-command", "FCALL", "", "--rename-command", "FUNCTION", ""])
        defer { server.stop() }
        let client = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: testLogger())
        try await withRunning(client) {
            let pool = TokenPool(client: client)
            let made = try await pool.generate(count: 1)[0]
            let held = try await pool.assign()
            #expect(held.token == made.token)
            _ = try await pool.keepAlive(held.token, lease: held.lease)
            #expect(try await pool.unblock(held.token, lease: held.lease).state == .free)
            #expect(try await pool.stats().free == 1)
            let stats = try await client.send("INFO", "commandstats").string ?? ""
            #expect(stats.contains("cmdstat_evalsha:calls=") && !stats.contains("cmdstat_fcall"))
        }
    }

    @Test func noScriptUsesACommandThatIsLinearInThePoolSize() {
        let linear = ["KEYS", "SMEMBERS", "HGETALL", "HKEYS", "HVALS", "SCAN", "ZSCAN", "HSCAN", "SUNION", "SINTER", "SDIFF", "ZUNION", "SORT", "DEL"]
        for source in PoolScript.allCases.map(\.script.source) + [PoolScript.library.source] {
            let code = source.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            // HGETALL only of the settings hash, whose fields are a fixed few (begin() in prelude.lua).
            let bounded = code.replacingOccurrences(of: "redis.call('HGETALL', KEYS[11])", with: "")
            for command in linear {
                #expect(!bounded.contains("'\(command)'"), "a script calls \(command)")
            }
            // Every range read is bounded by LIMIT.
            #expect(code.components(separatedBy: "'ZRANGE'").count == code.components(separatedBy: "'LIMIT'").count)
            // A set is only scanned a page at a time: SSCAN with a COUNT, a page's worth.
            #expect(code.components(separatedBy: "'SSCAN'").count == code.components(separatedBy: "'COUNT'").count)
        }
    }
}

/// Idempotent generate is one script a call, and the embedded server reports how it died.
struct OneStepTests {
    @Test func anIdempotentGenerateIsOneScriptCallWithNoOtherCommand() async throws {
        try await withRedis { _, client in
            let pool = TokenPool(client: client)
            _ = try await pool.generate(count: 1)  // registers the pool and loads the script
            _ = try await client.send("CONFIG", "RESETSTAT")
            let first = try await pool.generate(count: 3, idempotencyKey: "k")
            let again = try await pool.generate(count: 3, idempotencyKey: "k")
            #expect(again == first)
            // commandstats counts the commands scripts run too: the client's own are FCALL alone,
            // where a claim (SET NX), a replay (GET, ZMSCORE) and a record (SET) used to go apart.
            let stats = try await client.send("INFO", "commandstats").string ?? ""
            let names = Set(stats.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: ":").first })
            #expect(stats.contains("cmdstat_fcall:calls=2,"))
            #expect(names.isDisjoint(with: ["cmdstat_set", "cmdstat_get", "cmdstat_zmscore", "cmdstat_del"]), "\(names)")
        }
    }

    @Test func theEmbeddedRedisReportsHowItDied() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "tokenpool-embedded-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let embedded = try EmbeddedRedis(dataDirectory: directory.path, logger: testLogger())
        try await embedded.start()
        defer { embedded.killServer() }
        let pid = try await Self.serverPID(of: embedded)
        kill(pid, SIGKILL)
        let error = await #expect(throws: EmbeddedRedis.Failure.self) { try await embedded.run() }
        #expect(error?.description.contains("status \(128 + SIGKILL)") == true, "\(String(describing: error))")
    }

    /// The pid the embedded server gives in `INFO`, asked for up to 3 s: its socket file exists a
    /// moment before it answers, and a busy machine stretches that moment.
    private static func serverPID(of embedded: EmbeddedRedis) async throws -> Int32 {
        for _ in 0..<60 {
            if let pid = await EmbeddedRedis.serverPID(at: embedded.socketPath) { return pid }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try #require(await EmbeddedRedis.serverPID(at: embedded.socketPath))
    }

    @Test func aLeftoverEmbeddedRedisIsStoppedBeforeANewOneStarts() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "tokenpool-embedded-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try EmbeddedRedis(dataDirectory: directory.path, logger: testLogger())
        try await first.start()
        defer { first.killServer() }
        let leftover = try await Self.serverPID(of: first)
        // The process that started it died without stopping it; a new one starts on the same folder.
        let second = try EmbeddedRedis(dataDirectory: directory.path, logger: testLogger())
        try await second.start()
        defer { second.killServer() }
        let now = try await Self.serverPID(of: second)
        #expect(now != leftover)
        _ = await first.childStatus()
        #expect(kill(leftover, 0) != 0)
        kill(now, SIGTERM)
    }
}
