import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// Metadata, holders, listings and pools over HTTP, and the client library's calls for them.
struct PoolManagementHTTPTests {
    typealias Info = TokenInfo

    private static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, method: HTTPRequest.Method = .post) async throws -> TestResponse {
        try await client.execute(uri: uri, method: method, body: ByteBuffer(string: body)) { $0 }
    }

    @Test func metadataIsKeptAsSentAndHandedOutWithTheToken() async throws {
        try await TokenAPITests.withApp { client in
            // Order, numbers and escapes as sent; whitespace dropped; user data never executed.
            let sent = #"{ "proxy": "10.0.0.7:3128", "port": 3128, "weight": 1.50, "note": "<script>alert(1)</script>", "nested": {"z": [1, null, true]} }"#
            let kept = #"{"proxy":"10.0.0.7:3128","port":3128,"weight":1.50,"note":"<script>alert(1)</script>","nested":{"z":[1,null,true]}}"#
            let created = try await Self.post(client, "/tokens", #"{"metadata": \#(sent)}"#)
            #expect(created.status == .created)
            #expect(String(buffer: created.body).hasSuffix(#""holder":null,"metadata":\#(kept),"availableAt":null,"failures":0,"reason":null}"#))
            let assigned = try await Self.post(client, "/tokens/assign", #"{"holder": "worker-7"}"#)
            let info = try TokenAPITests.decode(Info.self, assigned)
            #expect(info.holder == "worker-7" && info.metadata?["port"] == .number(3128))
            #expect(String(buffer: assigned.body).contains(#""metadata":\#(kept)"#))

            let patched = try await Self.post(client, "/tokens/\(info.token)", #"{"metadata": {"proxy": "10.0.0.8:3128"}}"#, method: .patch)
            #expect(try TokenAPITests.decode(Info.self, patched).metadata == ["proxy": "10.0.0.8:3128"])
            #expect(try TokenAPITests.decode(Info.self, patched).holder == "worker-7")
            let removed = try await Self.post(client, "/tokens/\(info.token)", #"{"metadata": null}"#, method: .patch)
            #expect(try TokenAPITests.decode(Info.self, removed).metadata == nil)
            try TokenAPITests.expectProblem(
                try await Self.post(client, "/tokens/rMn7W3pYLYoJ1HnIHHgAwMuB", #"{"metadata": {}}"#, method: .patch), .notFound, "token-not-found"
            )
        }
    }

    @Test(arguments: [
        ("/tokens", #"{"metadata": [1]}"#), ("/tokens", #"{"metadata": "x"}"#), ("/tokens", #"{"meta": {}}"#), ("/tokens", "[1]"),
        ("/tokens", #"{"metadata": {"a": 1,}}"#), ("/tokens", #"{"metadata": {"a": 1, "a": 2}}"#), ("/tokens", #"{"metadata": {"a": "\ud800"}}"#),
        ("/tokens/batch", #"{"count": 2, "metadata": [{}, {}]}"#), ("/tokens/batch", #"{"metadata": []}"#),
        ("/tokens/batch", #"{"count": 2.5}"#), ("/tokens/batch", #"{"metadata": {}}"#), ("/tokens/batch", #"{"metadata": [{}, 3]}"#),
        ("/tokens/assign", #"{"holder": ""}"#), ("/tokens/assign", #"{"holder": 7}"#), ("/tokens/assign", #"{"holder": "a\u0007b"}"#),
        ("/tokens/assign", #"{"holder": "\#(String(repeating: "h", count: 129))"}"#), ("/tokens/assign", #"{"wait": 1}"#),
    ])
    func aWrongBodyIsA400ThatSaysWhat(_ uri: String, _ body: String) async throws {
        try await TokenAPITests.withApp { client in
            let response = try await Self.post(client, uri, body)
            try TokenAPITests.expectProblem(response, .badRequest, "bad-request")
        }
    }

    @Test func metadataOver4KiBIs413AndAtTheLimitFits() async throws {
        try await TokenAPITests.withApp { client in
            // {"k":"..."} is 8 bytes around the value.
            let fits = #"{"k":"\#(String(repeating: "x", count: 4096 - 8))"}"#
            #expect(try await Self.post(client, "/tokens", #"{"metadata": \#(fits)}"#).status == .created)
            let over = #"{"k":"\#(String(repeating: "x", count: 4097 - 8))"}"#
            try TokenAPITests.expectProblem(try await Self.post(client, "/tokens", #"{"metadata": \#(over)}"#), .contentTooLarge, "metadata-too-large")
            let batch = try await Self.post(client, "/tokens/batch", #"{"metadata": [{}, \#(over)]}"#)
            try TokenAPITests.expectProblem(batch, .contentTooLarge, "metadata-too-large")
            #expect(String(buffer: batch.body).contains("metadata[1]"))
        }
    }

    @Test func listingsAndPoolsPageThroughWithCursors() async throws {
        try await TokenAPITests.withApp { client in
            #expect(try await Self.post(client, "/pools/blue/tokens/batch", #"{"metadata": [{"n": 1}, {"n": 2}, null, {"n": 4}, {"n": 5}]}"#).status == .created)
            for holder in ["a", "b", "c"] { _ = try await Self.post(client, "/pools/blue/tokens/assign", #"{"holder": "\#(holder)"}"#) }
            var holders: [String] = []
            var cursor: String?
            repeat {
                let uri = "/pools/blue/tokens?state=assigned&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.execute(uri: uri, method: .get) { try TokenAPITests.decode(TokenPage.self, $0) }
                holders += page.tokens.compactMap(\.holder)
                cursor = page.next
            } while cursor != nil
            #expect(holders == ["a", "b", "c"], "soonest lease deadline first")
            let free = try await client.execute(uri: "/pools/blue/tokens?state=free", method: .get) { try TokenAPITests.decode(TokenPage.self, $0) }
            #expect(free.tokens.count == 2 && free.next == nil)
            for query in ["state=lent", "limit=0", "limit=1001", "limit=x", "state=free&cursor=abc", "state=assigned&cursor=12:x"] {
                try await client.execute(uri: "/pools/blue/tokens?\(query)", method: .get) { response throws in
                    #expect(response.status == .badRequest, "\(query)")
                }
            }

            let blue = try await client.execute(uri: "/pools/blue", method: .get) { try TokenAPITests.decode(PoolInfo.self, $0) }
            #expect(blue.total == 5 && blue.assigned == 3 && blue.free == 2 && blue.leaseTTL == 60 && blue.keepAliveTTL == 300)
            let set = try await Self.post(client, "/pools/blue", #"{"leaseTTL": 1.5, "keepAliveTTL": 600}"#, method: .put)
            #expect(try TokenAPITests.decode(PoolInfo.self, set).leaseTTL == 1.5)
            try TokenAPITests.expectProblem(try await Self.post(client, "/pools/blue", #"{"leaseTTL": 0}"#, method: .put), .badRequest, "bad-request")
            let lease = try await Self.post(client, "/pools/blue/tokens/assign", "")
            #expect(try TokenAPITests.decode(Info.self, lease).leaseExpiresIn == 1.5)

            _ = try await Self.post(client, "/pools/green", "{}", method: .put)
            let pools = try await client.execute(uri: "/pools", method: .get) { try TokenAPITests.decode(PoolPage.self, $0) }
            #expect(pools.pools.map(\.pool) == ["blue", "green"] && pools.next == nil)

            try await client.execute(uri: "/pools/blue", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/pools/blue", method: .get) { try TokenAPITests.expectProblem($0, .notFound, "pool-not-found") }
            try await client.execute(uri: "/pools/blue", method: .delete) { try TokenAPITests.expectProblem($0, .notFound, "pool-not-found") }
            try await client.execute(uri: "/pools/blue/tokens/assign", method: .post) { try TokenAPITests.expectProblem($0, .notFound, "no-free-token") }
            let empty = try await client.execute(uri: "/pools/blue/tokens", method: .get) { try TokenAPITests.decode(TokenPage.self, $0) }
            #expect(empty.tokens.isEmpty && empty.next == nil)
        }
    }

    @Test func theClientLibraryCoversPoolsMetadataAndHolders() async throws {
        try await TokenAPITests.withLiveApp { _, pool in
            let made = try await pool.generate(count: 2, metadata: ["account": "qa-1", "seats": 2], in: "seats")
            #expect(made.allSatisfy { $0.metadata == ["account": "qa-1", "seats": 2] })
            let each = try await pool.generate(eachWith: [["n": 1], nil], in: "seats")
            #expect(each.map(\.metadata) == [["n": 1], nil])
            let held = try await pool.assign(in: "seats", holder: "ci-runner-3")
            #expect(held.holder == "ci-runner-3")
            #expect(try await pool.setMetadata(["account": "qa-2"], of: held.token, in: "seats").metadata == ["account": "qa-2"])
            let page = try await pool.tokens(.assigned, in: "seats")
            #expect(page.tokens.map(\.token) == [held.token])
            #expect(try await pool.tokens(.all, in: "seats", limit: 3).tokens.count == 3)
            let info = try await pool.configure("seats", leaseTTL: .seconds(30), keepAliveTTL: nil)
            #expect(info.leaseTTL == 30 && info.keepAliveTTL == 300 && info.total == 4)
            #expect(try await pool.pools().pools.map(\.pool) == ["seats"])
            try await pool.deletePool("seats")
            await #expect { try await pool.pool("seats") } throws: { ($0 as? TokenPoolClientError)?.code == .poolNotFound }
        }
    }
}

/// `GET /pools/{pool}/events`: server-sent events from the pool's stream.
struct EventsHTTPTests {
    @Test func theEventsStreamReplaysAndEnds() async throws {
        try await TokenAPITests.withApp { client in
            let since = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
            _ = try await client.execute(uri: "/pools/ev/tokens/batch", method: .post, body: ByteBuffer(string: #"{"count": 2}"#)) { $0 }
            _ = try await client.execute(uri: "/pools/ev/tokens/assign", method: .post, body: ByteBuffer(string: #"{"holder": "w"}"#)) { $0 }
            try await client.execute(uri: "/pools/ev/events?since=\(since)&duration=0.6", method: .get) { response throws in
                #expect(response.status == .ok && response.headers[.contentType] == "text/event-stream")
                let text = String(buffer: response.body)
                let events = text.components(separatedBy: "\n\n").filter { $0.contains("event: ") }
                #expect(events.count == 2, "\(text)")
                #expect(events.first?.contains("event: generated\ndata: {") == true)
                #expect(events.last?.contains("\"holder\":\"w\"") == true && events.last?.contains("event: assigned") == true)
                // Ids a reconnecting EventSource sends back as Last-Event-ID.
                #expect(text.components(separatedBy: "\nid: ").count + (text.hasPrefix("id: ") ? 1 : 0) >= 2)
            }
            for query in ["since=x", "duration=0", "duration=abc"] {
                try await client.execute(uri: "/pools/ev/events?\(query)", method: .get) { #expect($0.status == .badRequest, "\(query)") }
            }
            try await client.execute(uri: "/pools/ev/events", method: .get, headers: [.lastEventID: "nope"]) { #expect($0.status == .badRequest) }
        }
    }
}
