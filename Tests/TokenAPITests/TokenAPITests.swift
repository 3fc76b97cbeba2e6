import Foundation
import Hummingbird
import Logging
import HummingbirdTesting
import RedisTokenPool
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// The HTTP contract, through the router, on a real Redis.
struct TokenAPITests {
    /// The client library's types: the tests read answers as its users do.
    typealias Info = TokenInfo

    /// `redisTimeout`: 2 s by default. Every suite runs at once on this 2-core machine, dozens of
    /// redis-servers and apps among them, and a Redis reply held up past 500 ms by that alone
    /// turned an answer into a 503 now and then, with the code before this round and after it.
    static func withApp(
        leaseTTL: Duration = .seconds(60),
        redisURL: String? = nil,
        redisTimeout: Duration = .seconds(2),
        _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let server = redisURL == nil ? try await RedisTestServer.start() : nil
        defer { server?.stop() }
        var configuration = AppConfiguration()
        configuration.redisURL = redisURL ?? server?.url
        configuration.leaseTTL = leaseTTL
        configuration.redisTimeout = redisTimeout
        configuration.logLevel = .critical
        let app = try await buildApplication(configuration)
        try await app.test(.router) { client in
            try await waitUntilReady(client)
            try await test(client)
        }
    }

    /// A live server (a real port) on a fresh Redis: its test client and a `TokenPoolClient` of it.
    static func withLiveApp(
        configure: (inout AppConfiguration) -> Void = { _ in },
        _ test: @escaping @Sendable (any TestClientProtocol, TokenPoolClient) async throws -> Void
    ) async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        var configuration = AppConfiguration()
        configuration.redisURL = server.url
        configuration.port = 0
        configuration.logLevel = .critical
        configure(&configuration)
        let app = try await buildApplication(configuration)
        try await app.test(.live) { client in
            try await waitUntilReady(client)
            try await test(client, TokenPoolClient(baseURL: "http://127.0.0.1:\(client.port!)", timeout: .seconds(5)))
        }
    }

    /// Until the app's Redis connections are up (10 s at most), so short timeouts in a test
    /// measure what the test is about and not a busy machine still connecting.
    static func waitUntilReady(_ client: some TestClientProtocol) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let status = try await client.execute(uri: "/readyz", method: .get) { $0.status }
            if status == .ok { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The answer as `type`; when it is not one, an error that says what came instead.
    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
        } catch {
            throw UnexpectedAnswer(description: "expected \(T.self), got \(response.status.code): \(String(buffer: response.body).prefix(300))")
        }
    }

    struct UnexpectedAnswer: Error, CustomStringConvertible {
        var description: String
    }

    static func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status, _ slug: String) throws {
        #expect(response.status == status)
        #expect(response.headers[.contentType] == "application/problem+json")
        let problem = try decode(Problem.self, response)
        #expect(problem.status == Int(status.code))
        #expect(problem.type == "urn:tokenpool:problem:\(slug)", "\(problem.detail)")
        #expect(!problem.detail.isEmpty)
    }

    @Test func theWholeLifeOfATokenOverHTTP() async throws {
        try await Self.withApp { client in
            let created = try await client.execute(uri: "/tokens", method: .post) { response throws in
                #expect(response.status == .created)
                #expect(response.headers[.contentType] == "application/json")
                return try Self.decode(Info.self, response)
            }
            #expect(created.state == .free && created.pool == "default" && created.lease == nil && created.leaseExpiresAt == nil)
            #expect(created.expiresAt.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)

            let assigned = try await client.execute(uri: "/tokens/assign", method: .post) { response throws in
                #expect(response.status == .ok)
                return try Self.decode(Info.self, response)
            }
            #expect(assigned.token == created.token && assigned.state == .assigned && assigned.lease == 1)
            try await client.execute(uri: "/tokens/assign", method: .post) { try Self.expectProblem($0, .notFound, "no-free-token") }

            let path = "/tokens/\(created.token)"
            try await client.execute(uri: "\(path)/keep-alive?lease=1", method: .post) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.decode(Info.self, response).lease == 1)
            }
            try await client.execute(uri: "\(path)/unblock?lease=2", method: .post) { try Self.expectProblem($0, .conflict, "lease-conflict") }
            try await client.execute(uri: "\(path)/unblock?lease=1", method: .post) { response throws in
                #expect(response.status == .ok)
                #expect(try Self.decode(Info.self, response).state == .free)
            }
            try await client.execute(uri: path, method: .get) { response throws in
                #expect(try Self.decode(Info.self, response).state == .free)
            }
            try await client.execute(uri: "/stats", method: .get) { response throws in
                #expect(String(buffer: response.body) == #"{"pool":"default","total":1,"free":1,"assigned":0,"waiting":0,"cooling":0,"disabled":0,"reserved":0}"#)
            }
            try await client.execute(uri: path, method: .delete) { response throws in
                #expect(response.status == .noContent)
            }
            for (method, suffix) in [(HTTPRequest.Method.delete, ""), (.get, ""), (.post, "/keep-alive"), (.post, "/unblock")] {
                try await client.execute(uri: path + suffix, method: method) { try Self.expectProblem($0, .notFound, "token-not-found") }
            }
        }
    }

    @Test func batchGenerateChecksItsCount() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/pools/red/tokens/batch", method: .post, body: ByteBuffer(string: #"{"count": 1500}"#)) { response throws in
                #expect(response.status == .created)
                struct Batch: Decodable { var tokens: [Info] }
                let batch = try Self.decode(Batch.self, response)
                #expect(batch.tokens.count == 1500 && Set(batch.tokens.map(\.token)).count == 1500)
                #expect(batch.tokens.allSatisfy { $0.pool == "red" && $0.state == .free })
            }
            for body in [#"{"count": 0}"#, #"{"count": 10001}"#, #"{"count": "3"}"#, #"{}"#, "not json", ""] {
                try await client.execute(uri: "/pools/red/tokens/batch", method: .post, body: ByteBuffer(string: body)) {
                    try Self.expectProblem($0, .badRequest, "bad-request")
                }
            }
            try await client.execute(uri: "/pools/red/stats", method: .get) { response throws in
                #expect(String(buffer: response.body) == #"{"pool":"red","total":1500,"free":1500,"assigned":0,"waiting":0,"cooling":0,"disabled":0,"reserved":0}"#)
            }
        }
    }

    @Test func namedPoolsAreSeparateFromTheDefaultPool() async throws {
        try await Self.withApp { client in
            let info = try await client.execute(uri: "/pools/blue/tokens", method: .post) { try Self.decode(Info.self, $0) }
            #expect(info.pool == "blue")
            try await client.execute(uri: "/tokens/\(info.token)", method: .get) { try Self.expectProblem($0, .notFound, "token-not-found") }
            try await client.execute(uri: "/tokens/assign", method: .post) { try Self.expectProblem($0, .notFound, "no-free-token") }
            try await client.execute(uri: "/pools/blue/tokens/assign", method: .post) { response throws in
                #expect(try Self.decode(Info.self, response).token == info.token)
            }
        }
    }

    @Test func malformedInputIsABadRequestAndUnknownRoutesAreNotFound() async throws {
        try await Self.withApp { client in
            let token = String(repeating: "A", count: 24)
            let requests: [(HTTPRequest.Method, String)] = [
                (.get, "/tokens/short"), (.delete, "/tokens/\(String(repeating: "A", count: 23))%2B"), (.post, "/tokens/short/unblock"),
                (.get, "/pools/\(String(repeating: "p", count: 65))/stats"), (.post, "/pools/b%40d/tokens/assign"),
                (.post, "/tokens/\(token)/unblock?lease=x"), (.post, "/tokens/\(token)/keep-alive?lease=0"),
                (.post, "/tokens/\(token)/unblock?lease=-3"), (.post, "/tokens/\(token)/unblock?lease=99999999999999999999"),
            ]
            for (method, uri) in requests {
                try await client.execute(uri: uri, method: method) { try Self.expectProblem($0, .badRequest, "bad-request") }
            }
            try await client.execute(uri: "/tokens/\(token)/frobnicate", method: .post) { try Self.expectProblem($0, .notFound, "not-found") }
            try await client.execute(uri: "/nowhere", method: .get) { try Self.expectProblem($0, .notFound, "not-found") }
            try await client.execute(uri: "/tokens/\(token)", method: .get) { try Self.expectProblem($0, .notFound, "token-not-found") }
        }
    }

    @Test func idempotencyKeyHeaderReplaysTheFirstAssign() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/tokens/batch", method: .post, body: ByteBuffer(string: #"{"count": 3}"#)) { #expect($0.status == .created) }
            let key: HTTPFields = [.idempotencyKey: "retry-me"]
            let first = try await client.execute(uri: "/tokens/assign", method: .post, headers: key) { try Self.decode(Info.self, $0) }
            let second = try await client.execute(uri: "/tokens/assign", method: .post, headers: key) { try Self.decode(Info.self, $0) }
            #expect(first == second)
            try await client.execute(uri: "/tokens/assign", method: .post, headers: [.idempotencyKey: "has space"]) {
                try Self.expectProblem($0, .badRequest, "bad-request")
            }
        }
    }

    @Test func aBodyOver64KiBIsRefused() async throws {
        try await Self.withApp { client in
            let body = ByteBuffer(string: #"{"count": 1, "pad": ""# + String(repeating: "x", count: 70_000) + "\"}")
            try await client.execute(uri: "/tokens/batch", method: .post, body: body) { response throws in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test func aLapsedLeaseShowsTheTokenFreeAndTheOldLeaseConflicts() async throws {
        try await Self.withApp(leaseTTL: .milliseconds(300)) { client in
            let token = try await client.execute(uri: "/tokens", method: .post) { try Self.decode(Info.self, $0) }.token
            let lease = try await client.execute(uri: "/tokens/assign", method: .post) { try Self.decode(Info.self, $0) }.lease
            try await Task.sleep(for: .milliseconds(450))
            try await client.execute(uri: "/tokens/\(token)", method: .get) { response throws in
                let info = try Self.decode(Info.self, response)
                #expect(info.state == .free && info.lease == nil)
            }
            try await client.execute(uri: "/tokens/\(token)/keep-alive?lease=\(lease ?? 0)", method: .post) {
                try Self.expectProblem($0, .conflict, "lease-conflict")
            }
        }
    }

    @Test func healthAnswersAndReadinessFollowsRedis() async throws {
        let server = try await RedisTestServer.start()
        // A short timeout: the answer must come within 1.5 s of Redis going away.
        try await Self.withApp(redisURL: server.url, redisTimeout: .milliseconds(500)) { client in
            // Ready first (a loaded machine may miss the 500 ms once while connections open).
            var ready = false
            for _ in 0..<20 where !ready {
                ready = try await client.execute(uri: "/readyz", method: .get) { $0.status == .ok }
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready)
            await server.stopAndWait()
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { try Self.expectProblem($0, .serviceUnavailable, "not-ready") }
            let start = ContinuousClock.now
            try await client.execute(uri: "/tokens/assign", method: .post) { response throws in
                try Self.expectProblem(response, .serviceUnavailable, "redis-unavailable")
                #expect(response.headers[.retryAfter] == "1")
            }
            #expect(ContinuousClock.now - start < .milliseconds(1500))
        }
    }
}
