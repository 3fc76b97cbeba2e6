import Testing
import TokenPoolTestSupport

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
            server.stop()
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
            _ = try await client.send("SET", "k", "v")
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
}
