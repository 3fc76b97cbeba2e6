import Hummingbird
import NIOCore

/// The OpenAPI document (`/openapi.json`, `/openapi.yaml`) and the pages that render it
/// (`/docs`: Swagger UI, `/redoc`: ReDoc), all embedded in the binary.
struct DocsController<Context: RequestContext>: Sendable {
    func addRoutes(to router: Router<Context>) {
        router.get("openapi.json") { _, _ in Self.file(EmbeddedFile.openapiJSON, "application/json") }
        router.get("openapi.yaml") { _, _ in Self.file(EmbeddedFile.openapiYAML, "application/yaml") }
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
