import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RedisNIO
import RedisTokenPool
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// What each failure becomes over HTTP: refusals 404/409, transient Redis trouble 503 with
/// Retry-After, a bug or corrupt data 500.
struct ErrorMappingTests {
    @Test func everyRefusalOfThePoolHasItsOwnAnswer() {
        let answers: [TokenPoolError.Code: (Int, String)] = [
            .noFreeToken: (404, "no-free-token"), .tokenNotFound: (404, "token-not-found"),
            .leaseConflict: (409, "lease-conflict"), .idempotencyKeyInUse: (409, "idempotency-key-in-use"),
            .waitInterrupted: (503, "wait-interrupted"), .poolNotFound: (404, "pool-not-found"), .invalidCursor: (400, "invalid-cursor"),
            .holderLimit: (429, "holder-limit"), .idempotencyKeyReused: (409, "idempotency-key-reused"),
        ]
        let errors: [TokenPoolError] = [
            .noFreeToken(.default), .tokenNotFound(Token.random()), .leaseConflict(Token.random(), lease: 3), .idempotencyKeyInUse("k"), .waitInterrupted(.default),
            .poolNotFound(.default), .invalidCursor("x"), .holderLimit(.default, holds: 2, asked: 1, max: 2),
            .idempotencyKeyReused("k", firstCount: 2, count: 1),
        ]
        #expect(Set(errors.map(\.code)) == Set(TokenPoolError.Code.allCases))
        for error in errors {
            let problem = ProblemAnswers.problem(for: error)
            #expect(Int(problem.status.code) == answers[error.code]?.0)
            #expect(problem.slug == answers[error.code]?.1)
        }
    }

    @Test(arguments: ["LOADING Redis is loading", "BUSY Redis is busy running a script", "READONLY You can't write", "MASTERDOWN Link down",
                      "CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys", "NOREPLICAS Not enough good replicas"])
    func transientRedisRepliesAre503WithRetryAfter(_ message: String) {
        let problem = ProblemAnswers.problem(for: RedisServerError(message), pool: "p", logger: testLogger())
        #expect(problem.status == .serviceUnavailable)
        #expect(problem.headers[.retryAfter] == String(ServerDefaults.retryAfterSeconds))
    }

    @Test(arguments: ["WRONGTYPE Operation against a key holding the wrong kind of value", "ERR user_script:1: oops", "NOSCRIPT No matching script"])
    func otherRedisRepliesAre500(_ message: String) {
        let problem = ProblemAnswers.problem(for: RedisServerError(message), pool: "p", logger: testLogger())
        #expect(problem.status == .internalServerError)
        #expect(problem.headers[.retryAfter] == nil)
    }

    @Test func aChangeNotReplicatedInTimeIs503NotReplicated() {
        let problem = ProblemAnswers.problem(for: RedisClientError.notReplicated(0, of: 1), pool: "p", logger: testLogger())
        #expect(problem.status == .serviceUnavailable && problem.slug == "not-replicated")
        #expect(problem.headers[.retryAfter] != nil)
    }

    @Test func aReplyThatBreaksAScriptsContractIs500AndNoConnectionIs503() {
        let broken = ProblemAnswers.problem(for: RedisClientError.unexpectedReply("x"), pool: "p", logger: testLogger())
        #expect(broken.status == .internalServerError)
        for error in [RedisClientError.timeout, .connectionClosed, .connectionUnavailable()] {
            #expect(ProblemAnswers.problem(for: error, pool: "p", logger: testLogger()).status == .serviceUnavailable)
        }
    }

    @Test func corruptDataIsA500NotAnOutage() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        try await TokenAPITests.withApp(redisURL: server.url) { client in
            try await client.execute(uri: "/pools/p/tokens", method: .post) { #expect($0.status == .created) }
            // Someone wrote over the pool's free set with a string.
            let redis = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: testLogger())
            try await withRunning(redis) { _ = try await redis.send("SET", "tokenpool:{p}:free", "x") }
            try await client.execute(uri: "/pools/p/tokens/assign", method: .post) { response throws in
                try TokenAPITests.expectProblem(response, .internalServerError, "internal")
                #expect(response.headers[.retryAfter] == nil)
            }
        }
    }

    @Test func aReadOnlyRedisIsA503() async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        try await TokenAPITests.withApp(redisURL: server.url) { client in
            try await client.execute(uri: "/tokens", method: .post) { #expect($0.status == .created) }
            // A primary demoted to a replica (of a master that is not there): writes are READONLY.
            let redis = RedisClient(configuration: try RedisConfiguration(url: server.url), logger: testLogger())
            try await withRunning(redis) { _ = try await redis.send("REPLICAOF", "127.0.0.1", "1") }
            try await client.execute(uri: "/tokens/assign", method: .post) { response throws in
                try TokenAPITests.expectProblem(response, .serviceUnavailable, "redis-busy")
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }
}
