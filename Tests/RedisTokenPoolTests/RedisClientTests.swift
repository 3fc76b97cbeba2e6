import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

struct RedisClientTests {
    @Test func pipelinesManyCommandsOverFewConnections() async throws {
        try await withRedis(configure: { $0.connectionCount = 2 }) { _, client in
            let replies = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<500 { group.addTask { try await client.send("INCR", "counter").int ?? -1 } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(Set(replies) == Set(1...500))
            // 500 commands in flight at once went over the two connections (the second may still be connecting).
            let connections = try await client.send("CLIENT", "LIST").string?.split(separator: "\n").count ?? 0
            #expect((1...2).contains(connections))
        }
    }

    @Test func aCommandSentFromAnEventLoopGoesOverAConnectionOnThatLoop() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let configuration = try RedisConfiguration(url: server.url)
        var connections: [RedisConnection?] = []
        for index in 0..<4 {
            connections.append(try await RedisConnection.connect(configuration, eventLoop: loops[index % 2], logger: testLogger()))
        }
        var state = RedisNode.State(connections: connections)
        for loop in loops {
            for _ in 0..<3 { #expect(state.pick(near: loop)?.eventLoop === loop) }
        }
        // Off every loop: each connection in turn.
        let picked = (0..<4).compactMap { _ in state.pick() }.map(ObjectIdentifier.init)
        #expect(Set(picked).count == 4)
        connections.forEach { $0?.close() }
        try await group.shutdownGracefully()
    }

    @Test func theConnectionsAreSpreadEvenlyOverTheLoops() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = try RedisConfiguration(url: server.url)
        configuration.connectionCount = 4
        let node = RedisNode(configuration: configuration, eventLoopGroup: group, logger: testLogger())
        let running = Task { await node.run() }
        // Something else taking the group's loops meanwhile does not skew the spread.
        for _ in 0..<5 { _ = group.next() }
        var open: [RedisConnection] = []
        for _ in 0..<200 where open.count < 4 {
            open = node.state.withLockedValue { $0.connections.compactMap { $0 } }
            if open.count < 4 { try await Task.sleep(for: .milliseconds(20)) }
        }
        try #require(open.count == 4)
        for loop in group.makeIterator() {
            #expect(open.filter { $0.eventLoop === loop }.count == 2)
        }
        running.cancel()
        await running.value
        try await group.shutdownGracefully()
    }

    @Test func anErrorReplyIsAServerError() async throws {
        try await withRedis { _, client in
            _ = try await client.send("SET", "k", "v")
            await #expect(throws: RedisServerError.self) { try await client.send("INCR", "k") }
            #expect(try await client.send("GET", "k").string == "v")
        }
    }

    @Test func failsFastWhileRedisIsDownAndRecoversWhenItIsBack() async throws {
        let server = try await RedisTestServer.start()
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(500)
        configuration.reconnectBackoff = .milliseconds(20)...(.milliseconds(200))
        let client = RedisClient(configuration: configuration, logger: testLogger())
        try await withRunning(client) {
            #expect(try await client.send("PING").string == "PONG")
            await server.stopAndWait()
            let start = ContinuousClock.now
            await #expect(throws: RedisClientError.self) { try await client.send("PING") }
            #expect(ContinuousClock.now - start < .seconds(2))
            let restarted = try await RedisTestServer.start(port: server.port)
            defer { restarted.stop() }
            var answered = false
            for _ in 0..<40 where !answered {
                answered = (try? await client.send("PING").string) == "PONG"
                if !answered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(answered)
        }
    }

    @Test func aSlowRedisTimesOutAndTheClientReconnects() async throws {
        try await withRedis(configure: { $0.commandTimeout = .milliseconds(200); $0.connectionCount = 1 }) { server, client in
            // The first command may miss 200 ms while a hundred tests start their Redis servers.
            var stored = false
            for _ in 0..<20 where !stored { stored = (try? await client.send("SET", "k", "v")) != nil }
            try #require(stored)
            let start = ContinuousClock.now
            // A script busy for 2 s: the command cannot answer within 200 ms.
            await #expect(throws: RedisClientError.timeout) {
                try await client.send("EVAL", "local t = redis.call('TIME') local e = t[1] * 1e6 + t[2] + 2000000 while true do local n = redis.call('TIME') if n[1] * 1e6 + n[2] > e then break end end return 1", "0")
            }
            #expect(ContinuousClock.now - start < .milliseconds(1500))
            try await Task.sleep(for: .milliseconds(1000))
            var value: String?
            for _ in 0..<40 where value == nil {
                value = try? await client.send("GET", "k").string
                if value == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(value == "v")
        }
    }

    @Test func speaksTLSToARedissURLTrustingTheGivenCA() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "tokenpool-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await RedisTestServer.startTLS(in: directory)
        defer { server.stop() }
        func ping(_ tls: RedisConfiguration.TLS?) async throws -> String? {
            var configuration = try RedisConfiguration(url: "rediss://localhost:\(server.port)")
            configuration.tls = tls
            configuration.commandTimeout = .seconds(4)  // a debug TLS handshake on a busy machine: over 1.5 s seen
            let client = RedisClient(configuration: configuration, logger: testLogger())
            return try await withRunning(client, waitForConnection: false) { try await client.send("PING").string }
        }
        #expect(try await ping(.init(caFile: directory.appending(path: "cert.pem").path)) == "PONG")
        #expect(try await ping(.init(insecure: true)) == "PONG")
        // The system's roots do not know this self-signed certificate.
        await #expect(throws: RedisClientError.self) { try await ping(.init()) }
        // Plain text to a TLS port gets nowhere either.
        await #expect(throws: RedisClientError.self) { try await ping(nil) }
    }

    @Test func authenticatesAndSelectsTheDatabaseFromTheURL() async throws {
        let server = try await RedisTestServer.start(extraArguments: ["--requirepass", "s3cret"])
        defer { server.stop() }
        func client(_ url: String) throws -> RedisClient {
            var configuration = try RedisConfiguration(url: url)
            configuration.commandTimeout = .milliseconds(700)
            return RedisClient(configuration: configuration, logger: testLogger())
        }
        let db2 = try client("redis://:s3cret@127.0.0.1:\(server.port)/2")
        try await withRunning(db2) { () async throws in
            _ = try await db2.send("SET", "where", "two")
        }
        let db0 = try client("redis://default:s3cret@127.0.0.1:\(server.port)")
        try await withRunning(db0) { () async throws in
            #expect(try await db0.send("GET", "where") == .null)
        }
        let query = try client("redis://:s3cret@127.0.0.1:\(server.port)?db=2")
        try await withRunning(query) { () async throws in
            #expect(try await query.send("GET", "where").string == "two")
        }
        let wrong = try client("redis://:nope@127.0.0.1:\(server.port)")
        _ = try await withRunning(wrong, waitForConnection: false) { () async throws in
            await #expect(throws: RedisClientError.self) { try await wrong.send("PING") }
        }
    }
}

/// One deadline per command, covering the wait for a connection and for the reply.
struct RedisDeadlineTests {
    @Test func aConnectionThatOpensLateDoesNotBuyTheCommandASecondTimeout() async throws {
        // A listener that accepts (the kernel completes the handshake) but never answers.
        let port = try freePort()
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(port)")
        configuration.commandTimeout = .seconds(2)
        configuration.connectionCount = 1
        configuration.reconnectBackoff = .milliseconds(20)...(.milliseconds(40))
        let client = RedisClient(configuration: configuration, logger: testLogger())
        try await withRunning(client, waitForConnection: false) {
            // Timed from when the command is sent, not from when its task was made: with the
            // whole suite starting at once, the task itself may start late.
            let (sends, sent) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
            async let reply: (Result<RESPValue, any Error>, Duration) = {
                let start = ContinuousClock.now
                sent.yield(start)
                let result = await Result(catching: { try await client.send("PING") })
                return (result, ContinuousClock.now - start)
            }()
            var started = sends.makeAsyncIterator()
            let start = try #require(await started.next())
            try await Task.sleep(until: start + .milliseconds(1500))
            let listener = try SilentListener(port: port)
            defer { listener.close() }
            let (result, took) = await reply
            #expect(throws: RedisClientError.self) { try result.get() }
            // One deadline: about 2 s. Waiting for a connection and then a whole timeout for the
            // reply took 3.5 s.
            #expect(took < .milliseconds(2900), "took \(took)")
        }
    }

    @Test func aWaitingCommandIsSentAsSoonAsAConnectionOpens() async throws {
        let port = try freePort()
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(port)")
        configuration.commandTimeout = .seconds(3)
        configuration.reconnectBackoff = .milliseconds(20)...(.milliseconds(40))
        let client = RedisClient(configuration: configuration, logger: testLogger())
        try await withRunning(client, waitForConnection: false) {
            async let reply = client.send("PING")
            try await Task.sleep(for: .milliseconds(200))
            let server = try await RedisTestServer.start(port: port)
            defer { server.stop() }
            #expect(try await reply.string == "PONG")
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// `--redis-wait-replicas`: a change is acknowledged only once replicas have it.
struct WaitReplicasTests {
    @Test func withoutTheReplicasAskedForAChangeIsNotReplicatedAndWithThemItIs() async throws {
        try await withRedis(configure: { $0.waitReplicas = 1; $0.commandTimeout = .milliseconds(1500) }) { server, client in
            let pool = TokenPool(client: client)
            let start = ContinuousClock.now
            await #expect(throws: RedisClientError.notReplicated(0, of: 1)) { try await pool.generate(count: 1) }
            #expect(ContinuousClock.now - start < .seconds(3))
            // Reads are not held up.
            #expect(try await pool.stats().total == 1)
            _ = try await client.send("CONFIG", "SET", "repl-diskless-sync-delay", "0")
            let replica = try await RedisTestServer.start(extraArguments: ["--replicaof", "127.0.0.1", String(server.port)])
            defer { replica.stop() }
            var synced = false
            for _ in 0..<200 where !synced {
                synced = (try? await client.send("INFO", "replication").string?.contains("state=online")) == true
                if !synced { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(synced)
            let made = try await pool.generate(count: 1)
            let info = try await RedisClient.withOne(url: replica.url) { try await $0.send("ZSCORE", pool.keys(of: .default).alive, made[0].token.rawValue) }
            #expect(info.int == Int(made[0].expiresAt))
        }
    }
}

extension RedisClient {
    /// Runs `body` with a client of its own on `url`.
    static func withOne<T: Sendable>(url: String, _ body: (RedisClient) async throws -> T) async throws -> T {
        let client = RedisClient(configuration: try RedisConfiguration(url: url), logger: testLogger())
        return try await withRunning(client) { try await body(client) }
    }
}
