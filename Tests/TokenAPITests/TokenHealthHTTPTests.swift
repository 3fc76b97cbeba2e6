import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenPoolClient

@testable import TokenAPI

/// Cooldown, failure reports, disable and enable over HTTP (#24): their answers, their errors,
/// and who may call them.
struct TokenHealthHTTPTests {
    private static func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, key: String? = KeysAndDocsTests.admin,
        headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var fields = KeysAndDocsTests.bearer(key)
        fields.append(contentsOf: headers)
        return try await client.execute(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) }) { $0 }
    }

    private static func info(_ response: TestResponse) throws -> TokenInfo {
        try JSONDecoder().decode(TokenInfo.self, from: Data(response.body.readableBytesView))
    }

    private static func problem(_ response: TestResponse) -> (status: Int, type: String, detail: String) {
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView))
        return (Int(response.status.code), problem?.type ?? "", problem?.detail ?? "")
    }

    @Test func unblockRestsTheTokenAndRefusesABadCooldownOrOutcome() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            let made = try Self.info(try await Self.call(client, .post, "/pools/keys/tokens"))
            let held = try Self.info(try await Self.call(client, .post, "/pools/keys/tokens/assign", key: KeysAndDocsTests.client))
            let base = "/pools/keys/tokens/\(made.token)/unblock?lease=\(held.lease!)"
            for bad in ["0", "-1", "86400.5", "abc", "inf", "1e9"] {
                let response = try await Self.call(client, .post, base + "&cooldown=\(bad)", key: KeysAndDocsTests.client)
                let (status, type, detail) = Self.problem(response)
                #expect(status == 400 && type.hasSuffix(":bad-request") && detail.contains("cooldown"), "cooldown=\(bad): \(status) \(detail)")
            }
            let badOutcome = Self.problem(try await Self.call(client, .post, base + "&outcome=maybe", key: KeysAndDocsTests.client))
            #expect(badOutcome.status == 400 && badOutcome.detail.contains("outcome must be success or failure"))
            // None of the refusals changed anything: the lease still stands.
            #expect(try Self.info(try await Self.call(client, .get, "/pools/keys/tokens/\(made.token)")).state == .assigned)
            let rested = try Self.info(try await Self.call(client, .post, base + "&cooldown=2&outcome=failure", key: KeysAndDocsTests.client))
            #expect(rested.state == .cooling && rested.failures == 1 && rested.availableAt != nil && rested.lease == nil)
            let stats = try await Self.call(client, .get, "/pools/keys/stats")
            #expect(String(buffer: stats.body).contains(#""free":0,"assigned":0,"waiting":0,"cooling":1,"disabled":0"#))
            let page = try await Self.call(client, .get, "/pools/keys/tokens?state=cooling", key: KeysAndDocsTests.client)
            #expect(try JSONDecoder().decode(TokenPage.self, from: Data(page.body.readableBytesView)).tokens.map(\.token) == [made.token])
            let noneFree = try await Self.call(client, .post, "/pools/keys/tokens/assign", key: KeysAndDocsTests.client)
            #expect(noneFree.status == .notFound)
        }
    }

    @Test func aClientKeyDisablesOnlyTheTokenItHoldsAndOnlyAnAdminEnables() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            let made = try Self.info(try await Self.call(client, .post, "/tokens", #"{"metadata": {"proxy": "10.0.0.7:3128"}}"#))
            let held = try Self.info(try await Self.call(client, .post, "/tokens/assign", key: KeysAndDocsTests.client))
            let path = "/tokens/\(made.token)"
            // A client key without its lease: 403; with another lease: 409; neither changes anything.
            let noLease = Self.problem(try await Self.call(client, .post, path + "/disable", key: KeysAndDocsTests.client))
            #expect(noLease.status == 403 && noLease.detail.contains("lease"))
            let wrong = try await Self.call(client, .post, path + "/disable?lease=\(held.lease! + 1)", key: KeysAndDocsTests.client)
            #expect(wrong.status == .conflict)
            let tooLong = String(repeating: "x", count: 257)
            let badReason = Self.problem(try await Self.call(client, .post, path + "/disable?lease=\(held.lease!)", #"{"reason": "\#(tooLong)"}"#))
            #expect(badReason.status == 400 && badReason.detail.contains("reason"))
            #expect(try Self.info(try await Self.call(client, .get, path)).state == .assigned)
            // The holder takes its dead proxy out, with a reason; an Idempotency-Key makes the retry the same.
            let retry: HTTPFields = [.idempotencyKey: "disable-1"]
            let first = try await Self.call(
                client, .post, path + "/disable?lease=\(held.lease!)", #"{"reason": "refuses connections"}"#, key: KeysAndDocsTests.client, headers: retry
            )
            let disabled = try Self.info(first)
            #expect(disabled.state == .disabled && disabled.reason == "refuses connections" && disabled.metadata?["proxy"] == "10.0.0.7:3128")
            let again = try await Self.call(
                client, .post, path + "/disable?lease=\(held.lease!)", #"{"reason": "refuses connections"}"#, key: KeysAndDocsTests.client, headers: retry
            )
            let repeated = try Self.info(again)
            #expect(again.status == .ok && repeated == disabled)
            // Enable is an admin's.
            #expect(try await Self.call(client, .post, path + "/enable", key: KeysAndDocsTests.client).status == .forbidden)
            let enabled = try Self.info(try await Self.call(client, .post, path + "/enable"))
            #expect(enabled.state == .free && enabled.reason == nil && enabled.failures == 0)
            #expect(try Self.info(try await Self.call(client, .post, path + "/enable")) == enabled)
            // An admin needs no lease.
            #expect(try Self.info(try await Self.call(client, .post, path + "/disable")).state == .disabled)
            let unknown = try await Self.call(client, .post, "/tokens/\(String(repeating: "Q", count: 24))/enable")
            #expect(unknown.status == .notFound)
        }
    }

    @Test func thePoolsSettingsTakeACooldownAndFailureLimits() async throws {
        try await KeysAndDocsTests.withKeyedApp { client in
            let set = try await Self.call(client, .put, "/pools/proxies", #"{"cooldown": 1.5, "maxFailures": 3, "quarantine": 600}"#)
            #expect(set.status == .ok)
            let pool = try JSONDecoder().decode(PoolInfo.self, from: Data(set.body.readableBytesView))
            #expect((pool.cooldown, pool.maxFailures, pool.quarantine, pool.cooling, pool.disabled) == (1.5, 3, 600, 0, 0))
            #expect(pool.rateLimit == nil)
            for bad in [#"{"cooldown": -1}"#, #"{"cooldown": 86401}"#, #"{"maxFailures": 0}"#, #"{"maxFailures": 1001}"#, #"{"maxFailures": 2.5}"#,
                        #"{"quarantine": 0}"#, #"{"cooldown": "5"}"#, #"{"rateLimit": {"assigns": 0, "per": 1}}"#,
                        #"{"rateLimit": {"assigns": 100001, "per": 1}}"#, #"{"rateLimit": {"assigns": 5, "per": 0}}"#,
                        #"{"rateLimit": {"assigns": 5}}"#, #"{"rateLimit": {"assigns": 5, "per": 1, "burst": 2}}"#, #"{"rateLimit": 5}"#]
            {
                let (status, _, detail) = Self.problem(try await Self.call(client, .put, "/pools/proxies", bad))
                #expect(status == 400 && !detail.isEmpty, "\(bad): \(status)")
            }
            // Null (or left out) is none again; a cooldown of 0 too.
            let cleared = try await Self.call(client, .put, "/pools/proxies", #"{"cooldown": 0, "maxFailures": null}"#)
            let none = try JSONDecoder().decode(PoolInfo.self, from: Data(cleared.body.readableBytesView))
            #expect(none.cooldown == nil && none.maxFailures == nil && none.quarantine == nil && none.rateLimit == nil)
            let limited = try await Self.call(client, .put, "/pools/proxies", #"{"rateLimit": {"assigns": 10, "per": 0.5}}"#)
            #expect(String(buffer: limited.body).hasSuffix(#""cooldown":null,"maxFailures":null,"quarantine":null,"rateLimit":{"assigns":10,"per":0.5},"maxPerHolder":null}"#))
        }
    }
}
