import Foundation
import Hummingbird
import Logging
import RedisNIO
import RedisTokenPool
import Testing

@testable import TokenAPI

/// The route table is the one list of routes: the OpenAPI document names exactly its documented
/// routes, and 405 `Allow` answers from it.
struct RouteTableTests {
    /// The server's route table, on a pool that never connects (nothing here calls Redis).
    static func routeTable() throws -> APIRoutes<TokenRequestContext> {
        let pool = TokenPool(redis: try RedisConfiguration(url: "redis://127.0.0.1:1"), logger: Logger(label: "test"))
        return try APIRoutes(
            tokens: TokenController(pool: pool, maxBodySize: 1024), events: EventsController(pool: pool, hub: EventsHub(pool: pool, logger: Logger(label: "test"))),
            health: HealthController(pool: pool),
            metrics: MetricsController(pool: pool, registry: PrometheusMetrics.registry), docs: DocsController(), dashboard: DashboardController(),
            audit: AuditController(trail: nil)
        )
    }

    @Test func theOpenAPIDocumentNamesExactlyTheDocumentedRoutes() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(EmbeddedFile.openapiJSON.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods = ["get", "put", "post", "delete", "patch", "head", "options"]
        let documented = Set(paths.flatMap { path, item in item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
        let table = try Self.routeTable().routes
        let declared = Set(table.filter(\.documented).map { "\($0.method.rawValue) \($0.path)" })
        #expect(documented.subtracting(declared).isEmpty, "in OpenAPI, not in the route table: \(documented.subtracting(declared).sorted())")
        #expect(declared.subtracting(documented).isEmpty, "in the route table, not in OpenAPI: \(declared.subtracting(documented).sorted())")
        // Each route once.
        #expect(Set(table.map { "\($0.method.rawValue) \($0.path)" }).count == table.count)
    }

    @Test func theOpenRoutesAreHealthDocsAndTheDashboardPage() throws {
        let open = try Self.routeTable().routes.filter { $0.access == .open }.map(\.path)
        #expect(Set(open) == ["/healthz", "/readyz", "/openapi.json", "/openapi.yaml", "/docs", "/redoc", "/docs/assets/{name}", "/dashboard",
                              "/dashboard/pools/{pool}"])
    }

    @Test func methodNotAllowedListsWhatTheTableHasForThePath() throws {
        let allowed = AllowedMethods(try Self.routeTable().routes.map { ($0.method, $0.path) })
        #expect(allowed.methods(for: "/tokens/assign") == ["POST"])
        #expect(allowed.methods(for: "/pools/p") == ["DELETE", "GET", "PUT"])
        #expect(allowed.methods(for: "/pools/p/tokens/AbCdEfGhIjKlMnOpQrStUv-_") == ["DELETE", "GET", "PATCH"])
        #expect(allowed.methods(for: "/nothing/here").isEmpty)
    }
}
