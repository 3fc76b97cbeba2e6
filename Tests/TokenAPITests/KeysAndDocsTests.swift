import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import RedisTokenPool
import Testing
import TokenPoolClient
import TokenPoolTestSupport

@testable import TokenAPI

/// Keys per role on every route group, and the embedded documentation.
struct KeysAndDocsTests {
    static let admin = "admin-key-1"
    static let client = "client-key-1"

    static func withKeyedApp(_ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let server = try await RedisTestServer.start()
        defer { server.stop() }
        var configuration = AppConfiguration()
        configuration.redisURL = server.url
        configuration.adminKeys = ["old-admin-key", Self.admin]
        configuration.clientKeys = [Self.client]
        configuration.logLevel = .critical
        let app = try await buildApplication(configuration)
        try await app.test(.router) { client in
            try await TokenAPITests.waitUntilReady(client)
            try await test(client)
        }
    }

    static func bearer(_ key: String?) -> HTTPFields {
        key.map { [.authorization: "Bearer \($0)"] } ?? [:]
    }

    /// Makes a token (admin) and returns the routes of each role, with a real token in them.
    static func routes(_ client: some TestClientProtocol, prefix: String) async throws -> (admin: [(HTTPRequest.Method, String)], client: [(HTTPRequest.Method, String)]) {
        let token = try await client.execute(uri: "\(prefix)/tokens", method: .post, headers: bearer(admin)) { response in
            try JSONDecoder().decode(TokenAPITests.Info.self, from: Data(response.body.readableBytesView)).token
        }
        // Two more, so that assign succeeds with each of the two keys.
        try await client.execute(uri: "\(prefix)/tokens/batch", method: .post, headers: bearer(admin), body: ByteBuffer(string: #"{"count": 2}"#)) {
            #expect($0.status == .created)
        }
        return (
            admin: [(.post, "\(prefix)/tokens"), (.post, "\(prefix)/tokens/batch"), (.get, "\(prefix)/stats"), (.delete, "\(prefix)/tokens/\(token)")]
                + (prefix.isEmpty ? [(.get, "/metrics")] : []),
            client: [(.post, "\(prefix)/tokens/assign"), (.get, "\(prefix)/tokens/\(token)"), (.post, "\(prefix)/tokens/\(token)/keep-alive"),
                     (.post, "\(prefix)/tokens/\(token)/unblock"), (.get, "\(prefix)/waiters")]
        )
    }

    @Test(arguments: ["", "/pools/keyed"])
    func noOrUnknownKeyIs401AndAClientKeyOnAnAdminRouteIs403(prefix: String) async throws {
        try await Self.withKeyedApp { client in
            let routes = try await Self.routes(client, prefix: prefix)
            for (method, uri) in routes.admin + routes.client {
                for key in [nil, "wrong", "Bearer", Self.admin + "x"] {
                    try await client.execute(uri: uri, method: method, headers: Self.bearer(key)) { response throws in
                        try TokenAPITests.expectProblem(response, .unauthorized, "unauthorized")
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                    }
                }
            }
            for (method, uri) in routes.admin {
                try await client.execute(uri: uri, method: method, headers: Self.bearer(Self.client)) {
                    try TokenAPITests.expectProblem($0, .forbidden, "forbidden")
                }
            }
            for (method, uri) in routes.client {
                for key in [Self.client, Self.admin] {
                    try await client.execute(uri: uri, method: method, headers: Self.bearer(key)) { response throws in
                        #expect(response.status == .ok, "\(method) \(uri) with \(key)")
                    }
                }
            }
            for (method, uri) in routes.admin {
                let body = uri.hasSuffix("batch") ? ByteBuffer(string: #"{"count": 2}"#) : nil
                // Either admin key of a rotation works.
                try await client.execute(uri: uri, method: method, headers: Self.bearer("old-admin-key"), body: body) { response throws in
                    #expect([.ok, .created, .noContent].contains(response.status), "\(method) \(uri)")
                }
            }
        }
    }

    @Test func healthAndDocsNeedNoKey() async throws {
        try await Self.withKeyedApp { client in
            for uri in ["/healthz", "/readyz", "/openapi.json", "/openapi.yaml", "/docs", "/redoc"] {
                try await client.execute(uri: uri, method: .get) { #expect($0.status == .ok, "\(uri)") }
            }
        }
    }

    @Test func theDocsPagesRenderTheServedDocument() async throws {
        try await TokenAPITests.withApp { client in
            let document = try await client.execute(uri: "/openapi.json", method: .get) { response throws in
                #expect(response.headers[.contentType] == "application/json")
                return try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            }
            #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
            let paths = try #require(document["paths"] as? [String: Any])
            for path in ["/tokens", "/tokens/batch", "/tokens/assign", "/tokens/{token}", "/tokens/{token}/unblock", "/tokens/{token}/keep-alive",
                         "/stats", "/healthz", "/readyz"] {
                #expect(paths[path] != nil, "\(path)")
                #expect(path.hasPrefix("/health") || path.hasPrefix("/ready") || paths["/pools/{pool}" + path] != nil, "/pools/{pool}\(path)")
            }
            try await client.execute(uri: "/docs", method: .get) { response throws in
                let html = String(buffer: response.body)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(html.contains("swagger-ui-bundle.js") && html.contains(#"url: "/openapi.json""#))
            }
            try await client.execute(uri: "/redoc", method: .get) { response throws in
                let html = String(buffer: response.body)
                #expect(html.contains("redoc.standalone.js") && html.contains(#"spec-url="/openapi.json""#))
            }
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() async throws {
        try await TokenAPITests.withApp { client in
            for method in [HTTPRequest.Method.get, .put] {
                try await client.execute(uri: "/tokens/assign", method: method) { response throws in
                    try TokenAPITests.expectProblem(response, .methodNotAllowed, "method-not-allowed")
                    #expect(response.headers[.allow] == "POST")
                }
            }
            try await client.execute(uri: "/pools/p/stats", method: .post) { response throws in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
            }
        }
    }

    @Test func aKeyIsFoundByItsDigestAndNoOtherIs() throws {
        let ring = try KeyRing(adminKeys: ["abc", "x"], clientKeys: ["abd", ""])
        for (presented, name) in [("abc", "admin-key-1"), ("x", "admin-key-2"), ("abd", "client-key-1"), ("", "client-key-2")] {
            #expect(ring.key(presented: Substring(presented))?.name == name)
        }
        for unknown in ["ab", "abcd", "ABC", "y", " abc"] { #expect(ring.key(presented: Substring(unknown)) == nil) }
    }

    @Test func auditCursorsAreIdsRedisTakesAsAnExclusiveStart() {
        for good in ["1796514952098-0", "0-0", "999999999999999-9999999999999999999"] { #expect(AuditTrail.isCursor(good)) }
        for bad in ["63684595778191748770-1", "1-18446744073709551615", "1", "-1", "1-", "a-1", "1-2-3", ""] { #expect(!AuditTrail.isCursor(bad)) }
    }
}
