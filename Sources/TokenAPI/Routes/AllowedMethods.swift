import Foundation
import HTTPTypes

/// Which methods each route template answers, read once from the embedded OpenAPI document,
/// so a known path called with another method is 405 with `Allow` rather than 404.
struct AllowedMethods: Sendable {
    /// Templates split into segments; `nil` stands for a `{parameter}`.
    private let routes: [(segments: [String?], methods: [String])]

    static let shared = AllowedMethods(openAPI: EmbeddedFile.openapiJSON, extra: [
        "/openapi.json": ["GET"], "/openapi.yaml": ["GET"], "/docs": ["GET"], "/redoc": ["GET"], "/dashboard": ["GET"],
        "/dashboard/pools/{pool}": ["GET"],
    ])

    /// The part of the OpenAPI document read here: each path's operations, by method.
    private struct Document: Decodable {
        struct Item: Decodable {
            var get, put, post, delete, patch, head, options: Operation?
        }
        struct Operation: Decodable {}
        var paths: [String: Item]
    }

    init(openAPI: String, extra: [String: [String]]) {
        let paths = (try? JSONDecoder().decode(Document.self, from: Data(openAPI.utf8)))?.paths ?? [:]
        var templates = extra
        for (path, item) in paths {
            let operations: [(String, Document.Operation?)] = [
                ("GET", item.get), ("PUT", item.put), ("POST", item.post), ("DELETE", item.delete), ("PATCH", item.patch),
                ("HEAD", item.head), ("OPTIONS", item.options),
            ]
            templates[path, default: []] += operations.compactMap { $0.1 == nil ? nil : $0.0 }
        }
        self.routes = templates.map { path, methods in
            (path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }, methods.sorted())
        }
    }

    /// The methods a path answers, by its most literal matching template (`/tokens/assign`
    /// before `/tokens/{token}`); empty when no route has its shape.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        let matches = self.routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { template, segment in template.map { $0 == segment } ?? true }
        }
        let best = matches.max { $0.segments.compactMap { $0 }.count < $1.segments.compactMap { $0 }.count }
        return best?.methods ?? []
    }
}
