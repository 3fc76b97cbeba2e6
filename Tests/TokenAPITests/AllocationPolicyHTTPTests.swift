import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenPoolClient

@testable import TokenAPI

/// Take N, priority, the cap per holder and the queue over HTTP (#25): their answers, their
/// errors, and who may call them.
struct AllocationPolicyHTTPTests {
    private static func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, key: String? = KeysAndDocsTests.admin
    ) async throws -> TestResponse {
        try await client.execute(uri: uri, method: method, headers: KeysAndDocsTests.bearer(key), body: body.map { ByteBuffer(string: $0) }) { $0 }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
    }

    private static func problem(_ response: TestResponse) -> (status: Int, type: String, detail: String) {
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView))
        return (Int(response.status.code), problem?.type ?? "", problem?.detail ?? "")
    }

    @Test func countAnswersAListAllOrNothingAndRefusesABadCountOrPriority() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            _ = try await Self.call(client, .post, "/pools/n/tokens/batch", #"{"count": 3}"#)
            for bad in ["0", "101", "-1", "2.5", "two", ""] {
                let (status, type, detail) = Self.problem(try await Self.call(client, .post, "/pools/n/tokens/assign?count=\(bad)", key: KeysAndDocsTests.client))
                #expect(status == 400 && type.hasSuffix(":bad-request") && detail.contains("count must be a whole number from 1 to 100"), "count=\(bad)")
            }
            for bad in ["101", "-101", "high", "1.5"] {
                let (status, _, detail) = Self.problem(try await Self.call(client, .post, "/pools/n/tokens/assign?priority=\(bad)&wait=1", key: KeysAndDocsTests.client))
                #expect(status == 400 && detail.contains("priority must be a whole number from -100 to 100"), "priority=\(bad)")
            }
            // None of the refusals took anything.
            #expect(try Self.decode(PoolStats.self, try await Self.call(client, .get, "/pools/n/stats")).free == 3)
            let two = try await Self.call(client, .post, "/pools/n/tokens/assign?count=2", #"{"holder": "transfer"}"#, key: KeysAndDocsTests.client)
            let tokens = try Self.decode(TokenList.self, two).tokens
            #expect(two.status == .ok && tokens.count == 2 && Set(tokens.map(\.token)).count == 2 && Set(tokens.compactMap(\.lease)).count == 2)
            #expect(tokens.allSatisfy { $0.holder == "transfer" && $0.state == .assigned })
            // One left: two more is nothing.
            let none = Self.problem(try await Self.call(client, .post, "/pools/n/tokens/assign?count=2", key: KeysAndDocsTests.client))
            #expect(none.status == 404 && none.type.hasSuffix(":no-free-token"))
            // count=1 is a list too; no count is one TokenInfo, as always.
            #expect(try Self.decode(TokenList.self, try await Self.call(client, .post, "/pools/n/tokens/assign?count=1")).tokens.count == 1)
            let stats = try Self.decode(PoolStats.self, try await Self.call(client, .get, "/pools/n/stats"))
            #expect(stats.free == 0 && stats.assigned == 3 && stats.reserved == 0)
        }
    }

    @Test func aHolderAtItsCapIs429WithRetryAfterAndABadCapIs400() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            _ = try await Self.call(client, .post, "/pools/cap/tokens/batch", #"{"count": 4}"#)
            for bad in ["0", "100001", "1.5", "\"3\"", "-2"] {
                let (status, _, detail) = Self.problem(try await Self.call(client, .put, "/pools/cap", #"{"maxPerHolder": \#(bad)}"#))
                #expect(status == 400 && detail.contains("maxPerHolder must be a whole number from 1 to 100000"), "maxPerHolder \(bad)")
            }
            let set = try await Self.call(client, .put, "/pools/cap", #"{"maxPerHolder": 2}"#)
            #expect(try Self.decode(PoolInfo.self, set).maxPerHolder == 2)
            #expect(try Self.decode(PoolInfo.self, try await Self.call(client, .get, "/pools/cap", key: KeysAndDocsTests.client)).maxPerHolder == 2)
            _ = try await Self.call(client, .post, "/pools/cap/tokens/assign?count=2", #"{"holder": "greedy"}"#, key: KeysAndDocsTests.client)
            for uri in ["/pools/cap/tokens/assign", "/pools/cap/tokens/assign?wait=5", "/pools/cap/tokens/assign?count=3"] {
                let response = try await Self.call(client, .post, uri, #"{"holder": "greedy"}"#, key: KeysAndDocsTests.client)
                let (status, type, detail) = Self.problem(response)
                #expect(status == 429 && type.hasSuffix(":holder-limit") && detail.contains("maxPerHolder of 2"), "\(uri): \(status) \(detail)")
                #expect(response.headers[.retryAfter] != nil)
            }
            // Never queued; and an assign naming no holder is not capped.
            #expect(try Self.decode(PoolStats.self, try await Self.call(client, .get, "/pools/cap/stats")).waiting == 0)
            #expect(try await Self.call(client, .post, "/pools/cap/tokens/assign?count=2", key: KeysAndDocsTests.client).status == .ok)
            // null lifts the cap.
            _ = try await Self.call(client, .put, "/pools/cap", #"{"maxPerHolder": null}"#)
            #expect(try Self.decode(PoolInfo.self, try await Self.call(client, .get, "/pools/cap")).maxPerHolder == nil)
        }
    }

    @Test func theQueueIsVisibleInTheOrderItWillBeServed() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            _ = try await Self.call(client, .post, "/pools/q/tokens")
            let held = try Self.decode(TokenInfo.self, try await Self.call(client, .post, "/pools/q/tokens/assign"))
            let empty = try Self.decode(WaiterPage.self, try await Self.call(client, .get, "/pools/q/waiters", key: KeysAndDocsTests.client))
            #expect(empty.waiters.isEmpty && empty.setAside.isEmpty && empty.next == nil)
            let big = Task { try await Self.call(client, .post, "/pools/q/tokens/assign?count=2&wait=10", #"{"holder": "big"}"#, key: KeysAndDocsTests.client) }
            try await Self.waitForWaiters(client, "q", 1)
            let urgent = Task { try await Self.call(client, .post, "/pools/q/tokens/assign?priority=50&wait=10", #"{"holder": "urgent"}"#) }
            try await Self.waitForWaiters(client, "q", 2)
            let queue = try Self.decode(WaiterPage.self, try await Self.call(client, .get, "/pools/q/waiters", key: KeysAndDocsTests.client))
            #expect(queue.waiters.map(\.holder) == ["urgent", "big"] && queue.waiters.map(\.priority) == [50, 0] && queue.waiters.map(\.count) == [1, 2])
            let paged = try Self.decode(WaiterPage.self, try await Self.call(client, .get, "/pools/q/waiters?limit=1"))
            #expect(paged.waiters.map(\.holder) == ["urgent"] && paged.next != nil)
            let bad = Self.problem(try await Self.call(client, .get, "/pools/q/waiters?cursor=abc"))
            #expect(bad.status == 400 && bad.type.hasSuffix(":invalid-cursor"))
            _ = try await Self.call(client, .post, "/pools/q/tokens/\(held.token)/unblock?lease=\(held.lease!)")
            let served = try Self.decode(TokenInfo.self, try await urgent.value)
            #expect(served.holder == "urgent")
            _ = try await Self.call(client, .post, "/pools/q/tokens/\(served.token)/unblock?lease=\(served.lease!)")
            // One token for a request for two: set aside, shown as reserved, until its wait ends.
            try await Self.waitForWaiters(client, "q", 1)
            let head = try Self.decode(WaiterPage.self, try await Self.call(client, .get, "/pools/q/waiters"))
            #expect(head.setAside == [held.token])
            #expect(try Self.decode(TokenInfo.self, try await Self.call(client, .get, "/pools/q/tokens/\(held.token)")).state == .reserved)
            #expect(try Self.decode(PoolStats.self, try await Self.call(client, .get, "/pools/q/stats")).reserved == 1)
            _ = try await Self.call(client, .post, "/pools/q/tokens")
            let both = try Self.decode(TokenList.self, try await big.value).tokens
            #expect(both.count == 2 && both.allSatisfy { $0.holder == "big" })
        }
    }

    /// Waits until the pool's queue shows `count` waiters.
    private static func waitForWaiters(_ client: some TestClientProtocol, _ pool: String, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while try Self.decode(WaiterPage.self, try await Self.call(client, .get, "/pools/\(pool)/waiters")).waiters.count != count {
            try #require(ContinuousClock.now < deadline, "the queue never showed \(count)")
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
