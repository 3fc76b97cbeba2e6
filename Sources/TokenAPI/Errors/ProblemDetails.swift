import Hummingbird
import NIOCore
import RedisTokenPool

/// An RFC 9457 `application/problem+json` answer: the only shape errors leave the server in.
struct ProblemDetails: HTTPResponseError {
    var status: HTTPResponse.Status
    /// A short slug naming the kind of problem; `type` is `urn:tokenpool:problem:<slug>`.
    var slug: String
    var detail: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ slug: String, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers
    }

    static func badRequest(_ detail: String) -> Self { Self(.badRequest, "bad-request", detail) }

    /// Transient trouble: worth a retry after `Retry-After` seconds.
    static func unavailable(_ slug: String, _ detail: String) -> Self {
        Self(.serviceUnavailable, slug, detail, headers: [.retryAfter: Self.retryAfter])
    }

    /// Our own bug or corrupt data; the details are in the log, not in the answer.
    static let `internal` = Self(.internalServerError, "internal", "an unexpected error; it was logged")

    static let retryAfter = String(ServerDefaults.retryAfterSeconds)

    func response(from request: Request, context: some RequestContext) -> Response {
        self.response(instance: request.uri.path)
    }

    /// The answer, `instance` the request's path.
    func response(instance: String) -> Response {
        var writer = JSONWriter(capacity: 192)
        writer.beginObject()
        writer.field("type", "urn:tokenpool:problem:\(self.slug)")
        writer.field("title", self.status.reasonPhrase)
        writer.field("status", self.status.code)
        writer.field("detail", self.detail)
        writer.field("instance", instance)
        writer.endObject()
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.contentLength] = String(writer.buffer.readableBytes)
        return Response(status: self.status, headers: headers, body: ResponseBody(byteBuffer: writer.buffer))
    }
}
