import Foundation
import Hummingbird
import NIOCore
import RedisNIO
import RedisTokenPool

/// The OpenAPI document (`/openapi.json`, `/openapi.yaml`) and the pages that render it
/// (`/docs`: Swagger UI, `/redoc`: ReDoc), all embedded in the binary. The pages load their UI
/// from a CDN, or, given a folder that holds the UI's files (`--docs-assets`, e.g. PyPI's
/// `fastapi-offline` package's `static` folder), from this server at `/docs/assets/`: then
/// they work without internet.
struct DocsController<Context: RequestContext>: Sendable {
    let openapiJSON: String
    let openapiYAML: String
    let docsHTML: String
    let redocHTML: String
    /// The UI's files by name, read once at start.
    let assets: [String: ByteBuffer]

    /// The files `--docs-assets` must hold, and the CDN addresses they stand in for.
    static var assetFiles: [(name: String, cdn: String)] {
        [
            ("swagger-ui.css", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"),
            ("swagger-ui-bundle.js", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"),
            ("redoc.standalone.js", "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"),
        ]
    }

    /// The document says this server's own `--max-wait` (the wait parameter's maximum, the one
    /// `"maximum"` of the default's value: `openapi/build_openapi.py` checks it is the only one).
    /// - Throws: when `assetsDirectory` lacks one of ``assetFiles``.
    init(maxWait: Duration = Defaults.maxWait, assetsDirectory: String? = nil) throws {
        let (written, served) = ("\"maximum\": \(Defaults.maxWait.secondsText)\n", "\"maximum\": \(maxWait.secondsText)\n")
        self.openapiJSON = EmbeddedFile.openapiJSON.replacingOccurrences(of: written, with: served)
        self.openapiYAML = EmbeddedFile.openapiYAML.replacingOccurrences(of: written, with: served)
        var docs = EmbeddedFile.docsHTML
        var redoc = EmbeddedFile.redocHTML
        var assets: [String: ByteBuffer] = [:]
        if let assetsDirectory {
            for (name, cdn) in Self.assetFiles {
                let path = URL(fileURLWithPath: assetsDirectory).appendingPathComponent(name).path
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw DocsAssetsMissing(path: path)
                }
                assets[name] = ByteBuffer(bytes: data)
                docs = docs.replacingOccurrences(of: cdn, with: "/docs/assets/" + name)
                redoc = redoc.replacingOccurrences(of: cdn, with: "/docs/assets/" + name)
            }
        }
        self.docsHTML = docs
        self.redocHTML = redoc
        self.assets = assets
    }

    func json(_ request: Request, _ context: Context) -> Response {
        Self.file(self.openapiJSON, "application/json")
    }

    func yaml(_ request: Request, _ context: Context) -> Response {
        Self.file(self.openapiYAML, "application/yaml")
    }

    /// Swagger UI.
    func docs(_ request: Request, _ context: Context) -> Response {
        Self.file(self.docsHTML, "text/html; charset=utf-8", policy: self.pagePolicy)
    }

    func redoc(_ request: Request, _ context: Context) -> Response {
        Self.file(self.redocHTML, "text/html; charset=utf-8", policy: self.pagePolicy)
    }

    /// `/docs/assets/{name}`: one of ``assetFiles``, with `--docs-assets`.
    func asset(_ request: Request, _ context: Context) throws -> Response {
        guard let name = context.parameters.get("name"), let bytes = self.assets[name] else { throw HTTPError(.notFound) }
        let type = name.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=86400"], body: ResponseBody(byteBuffer: bytes))
    }

    /// Offline, the pages may load nothing from elsewhere (ReDoc's footer logo would come from its CDN).
    private var pagePolicy: String? {
        self.assets.isEmpty ? nil : Self.offlinePolicy
    }

    private static var offlinePolicy: String {
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        + "worker-src 'self' blob:; font-src 'self' data:"
    }

    private static func file(_ text: String, _ contentType: String, policy: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: "no-cache"]
        if let policy { headers[.contentSecurityPolicy] = policy }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// `--docs-assets` names a folder without Swagger UI's and ReDoc's files.
struct DocsAssetsMissing: Error, CustomStringConvertible {
    var path: String
    var description: String {
        "--docs-assets: \(path) is missing (the folder needs swagger-ui.css, swagger-ui-bundle.js and redoc.standalone.js, "
            + "as in the fastapi-offline package's static folder)"
    }
}
