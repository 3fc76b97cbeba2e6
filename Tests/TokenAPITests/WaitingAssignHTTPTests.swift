import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RedisTokenPool
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// `?wait=` and `Prefer: wait=` over a live HTTP server on a real Redis.
struct WaitingAssignHTTPTests {
    static func withLiveApp(
        maxWait: Duration = .seconds(10),
        _ test: @escaping @Sendable (any TestClientProtocol, TokenPoolClient) async throws -> Void
    ) async throws {
        try await TokenAPITests.withLiveApp(configure: { $0.maxWait = maxWait }, test)
    }

    @Test(arguments: ["abc", "-1", "10.5", "1e2", "0x10", "", "nan", "inf"])
    func aWaitThatIsNotANumberOfSecondsUpToTheMaximumIs400(_ wait: String) async throws {
        try await Self.withLiveApp { client, _ in
            try await client.execute(uri: "/tokens/assign?wait=\(wait)", method: .post) { response throws in
                try TokenAPITests.expectProblem(response, .badRequest, "bad-request")
            }
            try await client.execute(uri: "/pools/p/tokens/assign?wait=\(wait)", method: .post) { response throws in
                try TokenAPITests.expectProblem(response, .badRequest, "bad-request")
            }
        }
    }

    /// RFC 7240: a preference the server cannot honour is ignored, one above its limit honoured up to it.
    /// The limits are far apart from what they tell apart, so a loaded machine cannot blur them.
    @Test func aPreferWaitThatIsNotANumberIsIgnoredAndOneAboveTheMaximumWaitsTheMaximum() async throws {
        try await Self.withLiveApp(maxWait: .seconds(20)) { client, _ in
            for preference in ["wait=abc", "wait=", "wait=-1", "respond-async"] {
                let start = ContinuousClock.now
                try await client.execute(uri: "/tokens/assign", method: .post, headers: [.prefer: preference]) { response throws in
                    try TokenAPITests.expectProblem(response, .notFound, "no-free-token")
                }
                // Honoured, it would have waited the maximum, 20 s.
                #expect(ContinuousClock.now - start < .seconds(10), "'\(preference)' was not ignored")
            }
        }
        try await Self.withLiveApp(maxWait: .seconds(2)) { client, _ in
            let start = ContinuousClock.now
            try await client.execute(uri: "/tokens/assign", method: .post, headers: [.prefer: "wait=30"]) { response throws in
                try TokenAPITests.expectProblem(response, .notFound, "no-free-token")
            }
            // At least the maximum; far short of the 30 s asked for.
            let waited = ContinuousClock.now - start
            #expect(waited >= .seconds(2) && waited < .seconds(15), "answered after \(waited)")
        }
    }

    @Test func preferWaitWaitsAndTheQueryWins() async throws {
        try await Self.withLiveApp { client, _ in
            var start = ContinuousClock.now
            try await client.execute(uri: "/tokens/assign?wait=0", method: .post, headers: [.prefer: "wait=5"]) { response throws in
                try TokenAPITests.expectProblem(response, .notFound, "no-free-token")
            }
            #expect(ContinuousClock.now - start < .seconds(2), "the query's wait=0 did not win")
            start = ContinuousClock.now
            try await client.execute(uri: "/tokens/assign", method: .post, headers: [.prefer: "respond-async, wait=0.5"]) { response throws in
                try TokenAPITests.expectProblem(response, .notFound, "no-free-token")
                #expect(response.headers[.connection] == nil)
            }
            let waited = ContinuousClock.now - start
            #expect(waited >= .milliseconds(500) && waited < .milliseconds(1500), "answered after \(waited)")
            // The connection that waited carries the next request.
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
        }
    }

    @Test func theClientWaitsForTheTokenAnotherClientFrees() async throws {
        try await Self.withLiveApp { _, pool in
            let made = try await pool.generate(in: "q")[0]
            let held = try await pool.assign(in: "q")
            let waiter = Task { try await pool.assign(in: "q", wait: .seconds(8)) }
            let deadline = ContinuousClock.now + .seconds(5)
            while try await pool.stats(of: "q").waiting != 1 {
                try #require(ContinuousClock.now < deadline)
                try await Task.sleep(for: .milliseconds(5))
            }
            try await pool.unblock(held.token, lease: held.lease, in: "q")
            let got = try await waiter.value
            #expect(got.token == made.token && got.lease! > held.lease!)
            // A free token is answered at once, on a connection that stays open.
            try await pool.unblock(got.token, lease: got.lease, in: "q")
            #expect(try await pool.assign(in: "q", wait: .seconds(8)).token == made.token)
        }
    }
}
