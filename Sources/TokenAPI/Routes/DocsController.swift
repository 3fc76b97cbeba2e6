import Foundation
import Hummingbird
import NIOCore
import RedisTokenPool

/// The OpenAPI document (`/openapi.json`, `/openapi.yaml`) and the pages that render it
/// (`/docs`: Swagger UI, `/redoc`: ReDoc), all embedded in the binary.
struct DocsController<Context: RequestContext>: Sendable {
    let openapiJSON: String
    let openapiYAML: String

    /// The document says this server's own `--max-wait` (the wait parameter's maximum, the one
    /// `"maximum"` of the default's value: `openapi/build_openapi.py` checks it is the only one).
    init(maxWait: Duration = Defaults.maxWait) {
        let (written, served) = ("\"maximum\": \(Defaults.maxWait.secondsText)\n", "\"maximum\": \(maxWait.secondsText)\n")
        self.openapiJSON = EmbeddedFile.openapiJSON.replacingOccurrences(of: written, with: served)
        self.openapiYAML = EmbeddedFile.openapiYAML.replacingOccurrences(of: written, with: served)
    }

    func addRoutes(to router: Router<Context>) {
        router.get("openapi.json") { _, _ in Self.file(self.openapiJSON, "application/json") }
        router.get("openapi.yaml") { _, _ in Self.file(self.openapiYAML, "application/yaml") }
        router.get("docs") { _, _ in Self.file(EmbeddedFile.docsHTML, "text/html; charset=utf-8") }
        router.get("redoc") { _, _ in Self.file(EmbeddedFile.redocHTML, "text/html; charset=utf-8") }
    }

    private static func file(_ text: String, _ contentType: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: contentType, .cacheControl: "no-cache"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }
}
