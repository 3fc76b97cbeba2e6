import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenPoolClient

@testable import TokenAPI

/// `/metrics` is scraped like Prometheus does, and its numbers follow what happens.
struct MetricsTests {
    /// The value of one sample line, e.g. `tokenpool_assignments_total` or `tokenpool_pool_tokens{pool="m",state="free"}`.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func scrape(_ client: some TestClientProtocol) async throws -> String {
        try await client.execute(uri: "/metrics", method: .get) { response throws in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            return String(buffer: response.body)
        }
    }

    @Test func countersAndPoolGaugesMoveAsOperationsHappen() async throws {
        try await TokenAPITests.withApp { client in
            let before = try await Self.scrape(client)
            try await client.execute(uri: "/pools/metered/tokens/batch", method: .post, body: ByteBuffer(string: #"{"count": 3}"#)) {
                #expect($0.status == .created)
            }
            let info = try await client.execute(uri: "/pools/metered/tokens/assign", method: .post) { try TokenAPITests.decode(TokenAPITests.Info.self, $0) }
            try await client.execute(uri: "/pools/metered/tokens/\(info.token)/keep-alive", method: .post) { #expect($0.status == .ok) }
            try await client.execute(uri: "/pools/metered/tokens/\(info.token)/unblock", method: .post) { #expect($0.status == .ok) }
            _ = try await client.execute(uri: "/pools/metered/tokens/\(info.token)", method: .delete) { $0.status }
            try await client.execute(uri: "/pools/metered-empty/tokens/assign", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/no/such/route", method: .get) { #expect($0.status == .notFound) }
            let after = try await Self.scrape(client)

            for (series, least) in [("tokenpool_assignments_total", 1.0), ("tokenpool_keep_alives_total", 1), ("tokenpool_unblocks_total", 1),
                                    ("tokenpool_tokens_generated_total", 3), ("tokenpool_tokens_deleted_total", 1)] {
                let grew = (Self.sample(after, series) ?? 0) - (Self.sample(before, series) ?? 0)
                #expect(grew >= least, "\(series) grew by \(grew)")
            }
            #expect(Self.sample(after, #"tokenpool_pool_tokens{pool="metered",state="total"}"#) == 2)
            #expect(Self.sample(after, #"tokenpool_pool_tokens{pool="metered",state="free"}"#) == 2)
            #expect(Self.sample(after, #"tokenpool_pool_tokens{pool="metered",state="assigned"}"#) == 0)
            let assigns = #"hb_requests{http_route="/pools/{pool}/tokens/assign",http_request_method="POST",http_response_status_code="200"}"#
            #expect((Self.sample(after, assigns) ?? 0) - (Self.sample(before, assigns) ?? 0) >= 1)
            // A problem+json answer counts as an error of its route, by status; no route at all as NotFound.
            for series in [
                #"hb_request_errors{http_route="/pools/{pool}/tokens/assign",http_request_method="POST",error_type="404"}"#,
                #"hb_request_errors{http_route="NotFound",http_request_method="GET",error_type="404"}"#,
            ] {
                #expect((Self.sample(after, series) ?? 0) - (Self.sample(before, series) ?? 0) >= 1, "\(series)")
            }
            #expect(after.contains("tokenpool_redis_command_duration_seconds_bucket"))
        }
    }

    @Test func theQueueLengthAndTheTimeSpentWaitingAreMetered() async throws {
        try await TokenAPITests.withApp { client in
            let waited = #"tokenpool_wait_duration_seconds_count{outcome="assigned"}"#
            let before = Self.sample(try await Self.scrape(client), waited) ?? 0
            try await client.execute(uri: "/pools/queued/tokens", method: .post) { #expect($0.status == .created) }
            let held = try await client.execute(uri: "/pools/queued/tokens/assign", method: .post) { try TokenAPITests.decode(TokenAPITests.Info.self, $0) }
            let waiter = Task {
                try await client.execute(uri: "/pools/queued/tokens/assign?wait=10", method: .post) { $0.status }
            }
            let deadline = ContinuousClock.now + .seconds(5)
            var queued: Double?
            while queued != 1, ContinuousClock.now < deadline {
                queued = Self.sample(try await Self.scrape(client), #"tokenpool_pool_waiting{pool="queued"}"#)
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(queued == 1, "the gauge showed the waiter")
            try await client.execute(uri: "/pools/queued/tokens/\(held.token)/unblock?lease=\(held.lease!)", method: .post) { #expect($0.status == .ok) }
            #expect(try await waiter.value == .ok)
            let after = try await Self.scrape(client)
            #expect(Self.sample(after, #"tokenpool_pool_waiting{pool="queued"}"#) == 0)
            #expect((Self.sample(after, waited) ?? 0) - before >= 1, "a wait that ended with a token was timed")
        }
    }
}
