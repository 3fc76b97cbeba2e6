import HTTPTypes

/// Which methods each route template answers, from the route table, so a known path called
/// with another method is 405 with `Allow` rather than 404.
struct AllowedMethods: Sendable {
    /// Templates split into segments; `nil` stands for a `{parameter}`.
    private let routes: [(segments: [String?], methods: [String])]

    init(_ routes: [(method: HTTPRequest.Method, path: String)]) {
        let templates = Dictionary(grouping: routes, by: \.path)
        self.routes = templates.map { path, routes in
            (path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }, Set(routes.map(\.method.rawValue)).sorted())
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
