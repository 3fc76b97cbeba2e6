import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TokenPoolClient

@testable import TokenAPI

/// Assign, unblock and keep-alive are found ahead of the router (`RouteMatcher`, compiled
/// from the route table): only their canonical spelling, and with what the router would have given them.
struct HotRoutesTests {
    static let token = "AbCdEfGhIjKlMnOpQrStUv-_"

    /// The route table's hot routes, compiled as the server compiles them.
    static let matcher: RouteMatcher = {
        let routes = try! RouteTableTests.routeTable().routes.filter(\.hot)
        return RouteMatcher(routes.map { ($0.method, $0.path, $0.hot) })
    }()

    static func match(_ path: String) -> (template: String, parameters: Parameters)? {
        var parameters = Parameters()
        return Self.matcher.match(.post, path, parameters: &parameters).map { ($0.template, parameters) }
    }

    @Test func theHotRoutesAreAssignUnblockAndKeepAliveInEveryPool() {
        let templates = Set(Self.matcher.routes.map(\.template))
        #expect(templates == ["/tokens/assign", "/tokens/{token}/unblock", "/tokens/{token}/keep-alive", "/pools/{pool}/tokens/assign",
                              "/pools/{pool}/tokens/{token}/unblock", "/pools/{pool}/tokens/{token}/keep-alive"])
    }

    @Test func theCanonicalSpellingsAreTakenWithTheirParameters() throws {
        let named = try #require(Self.match("/pools/p-1_x/tokens/\(Self.token)/unblock"))
        #expect(named.template == "/pools/{pool}/tokens/{token}/unblock")
        #expect(named.parameters.get("pool") == "p-1_x" && named.parameters.get("token") == Self.token)

        let assign = try #require(Self.match("/tokens/assign"))
        #expect(assign.template == "/tokens/assign" && assign.parameters.isEmpty)
        #expect(Self.match("/pools/p/tokens/assign")?.template == "/pools/{pool}/tokens/assign")
        #expect(Self.match("/tokens/\(Self.token)/keep-alive")?.template == "/tokens/{token}/keep-alive")
        // A token may begin with "assign".
        let assignLike = "assign" + Self.token.dropFirst(6)
        let unblock = try #require(Self.match("/tokens/\(assignLike)/unblock"))
        #expect(unblock.template == "/tokens/{token}/unblock" && unblock.parameters.get("token") == assignLike)
        #expect(unblock.parameters.get("pool") == nil)
        // Only the routes' own method.
        var parameters = Parameters()
        #expect(Self.matcher.match(.get, "/tokens/assign", parameters: &parameters) == nil)
    }

    @Test(arguments: [
        "/pools/p/tokens/assign/",  // trailing slash
        "//tokens/assign",
        "/pools//tokens/assign",
        "tokens/assign",
        "/pools/p%2D1/tokens/assign",  // percent-encoded: the router decides
        "/pools/p.1/tokens/assign",
        "/pools/p/tokens/\(token)x/unblock",  // not a token's length
        "/pools/p/tokens/assign/unblock",
        "/pools/p/tokens/\(token)/inspect",
        "/pools/p/tokens/\(token)",
        "/pools/p/tokens",
        "/pools/p",
        "/pools/p/other/assign",
        "/pools/p/tokens/\(token)/unblock/more",
        "/Tokens/assign",
        "",
    ])
    func everyOtherSpellingIsLeftToTheRouter(path: String) {
        #expect(Self.match(path) == nil)
    }

    /// The same request spelt canonically (taken ahead of the router) and with a trailing slash
    /// (routed by Hummingbird) gets the same answer and counts under the same route label.
    @Test func aTakenRequestAnswersAndCountsAsTheRouterWould() async throws {
        try await TokenAPITests.withApp { client in
            try await client.execute(uri: "/pools/hot/tokens/batch", method: .post, body: ByteBuffer(string: #"{"count": 2}"#)) {
                #expect($0.status == .created)
            }
            let before = try await MetricsTests.scrape(client)
            var held: [TokenAPITests.Info] = []
            for path in ["/pools/hot/tokens/assign", "/pools/hot/tokens/assign/"] {
                held.append(try await client.execute(uri: path, method: .post) { try TokenAPITests.decode(TokenAPITests.Info.self, $0) })
            }
            for (info, slash) in zip(held, ["", "/"]) {
                try await client.execute(uri: "/pools/hot/tokens/\(info.token)/keep-alive\(slash)?lease=\(info.lease!)", method: .post) {
                    #expect($0.status == .ok)
                }
                try await client.execute(uri: "/pools/hot/tokens/\(info.token)/unblock\(slash)?lease=\(info.lease!)", method: .post) {
                    #expect($0.status == .ok)
                }
            }
            // Refusals match too: a wrong lease (409), a bad pool name (400), a token not there (404).
            var answers: [[String]] = []
            for slash in ["", "/"] {
                var answer: [String] = []
                for path in ["/pools/hot/tokens/\(held[0].token)/unblock\(slash)?lease=1", "/pools/\(String(repeating: "n", count: 65))/tokens/assign\(slash)",
                             "/pools/hot/tokens/\(HotRoutesTests.token)/keep-alive\(slash)", "/pools/hot-empty/tokens/assign\(slash)"] {
                    answer.append(try await client.execute(uri: path, method: .post) { response in
                        let problem = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                        return "\(response.status.code) \(problem?["type"] ?? "") \(problem?["detail"] ?? "")"
                    })
                }
                answers.append(answer)
            }
            #expect(answers[0] == answers[1])
            #expect(answers[0].map { $0.prefix(3) } == ["409", "400", "404", "404"])
            // Metrics are process-wide and other tests run alongside: each label grew by at least
            // these two, and no other spelling of these routes' labels exists (the router's would
            // show up as one if it named them differently).
            let after = try await MetricsTests.scrape(client)
            let templates = ["/pools/{pool}/tokens/assign", "/pools/{pool}/tokens/{token}/keep-alive", "/pools/{pool}/tokens/{token}/unblock"]
            for route in templates {
                let series = #"hb_requests{http_route="\#(route)",http_request_method="POST",http_response_status_code="200"}"#
                #expect((MetricsTests.sample(after, series) ?? 0) - (MetricsTests.sample(before, series) ?? 0) >= 2, "\(series)")
            }
            let labels = Set(after.split(separator: "\n").compactMap { line -> Substring? in
                guard line.hasPrefix(#"hb_requests{http_route="/pools/"#) else { return nil }
                return line.dropFirst(#"hb_requests{http_route=""#.count).prefix { $0 != "\"" }
            })
            let hot = labels.filter { $0.hasSuffix("/assign") || $0.hasSuffix("/unblock") || $0.hasSuffix("/keep-alive") }
            #expect(hot == Set(templates.map { Substring($0) }))
        }
    }
}

/// Every route, not only the hot ones, is found from its path's bytes when spelt canonically.
struct RouteMatcherTests {
    /// Each template of the route table spelt canonically (`{token}` as a token, any other
    /// parameter as `p-1`) is found as that template and no other, with its parameters.
    @Test func everyRouteOfTheTableIsFoundByItsCanonicalSpelling() throws {
        let routes = try RouteTableTests.routeTable().routes
        let matcher = RouteMatcher(routes.map { ($0.method, $0.path, $0.hot) })
        #expect(matcher.routes.count == routes.count)
        for route in routes {
            let path = route.path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
                segment == "{token}" ? Substring(HotRoutesTests.token) : segment.first == "{" ? "p-1" : segment
            }.joined(separator: "/")
            var parameters = Parameters()
            let found = try #require(matcher.match(route.method, path, parameters: &parameters), "\(route.method) \(path)")
            #expect(found.template == route.path && routes[found.index].method == route.method, "\(route.method) \(path)")
            if route.path.contains("{pool}") { #expect(parameters.get("pool") == "p-1") }
            if route.path.contains("{token}") { #expect(parameters.get("token") == HotRoutesTests.token) }
        }
    }
}
