import Foundation
import HTTPTypes

/// Which methods each route template answers, read once from the embedded OpenAPI document,
/// so a known path called with another method is 405 with `Allow` rather than 404.
struct AllowedMethods: Sendable {
    /// Templates split into segments; `nil` stands for a `{parameter}`.
    private let routes: [(segments: [String?], methods: [String])]

    static let shared = AllowedMethods(openAPI: EmbeddedFile.openapiJSON, extra: [
        "/openapi.json": ["GET"], "/openapi.yaml": ["GET"], "/docs": ["GET"], "/redoc": ["GET"],
    ])

    init(openAPI: String, extra: [String: [String]]) {
        let document = try? JSONSerialization.jsonObject(with: Data(openAPI.utf8)) as? [String: Any]
        let paths = document?["paths"] as? [String: [String: Any]] ?? [:]
        var templates = extra
        for (path, item) in paths {
            let verbs = ["get", "put", "post", "delete", "patch", "head", "options"].filter { item[$0] != nil }
            templates[path, default: []] += verbs.map { $0.uppercased() }
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
