import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// A request's parts from NIO's HTTP/1 decoder as HTTP types, and an answer's parts as bytes, on
/// a connection that ``ParkingHandler`` answers: the handler's own codec, called by it, not a
/// handler of the pipeline (each hop between handlers boxed a part into `NIOAny` and cast it
/// back, six times a request). It stands in for two handlers, with the same requests and the
/// same bytes on the wire, less their costs:
/// - swift-nio-extras' `HTTP1ToHTTPServerCodec`, which hands every request target to
///   `URLComponents(string:)` to find an absolute-form URL's path, and keeps the target as it is
///   whenever it has no scheme, as every target that starts with `/` (origin form, what clients
///   send a server that is not a proxy) has. Such a target is taken as it is here, without the
///   parse (some 4,000 instructions a request, docs/profile.md); any other goes through the
///   codec's own conversion;
/// - NIO's `HTTPResponseEncoder`, behind that codec's conversion of each answer's fields to
///   `HTTPHeaders`: an array of string pairs, searched without regard to case for the framing
///   fields, then written four writes a field. Here an answer's head is sized and written in one
///   write (``head(_:method:allocator:)``), framed as NIO frames it: no body for a 1xx, 204 or
///   304 or a `CONNECT`; its `Content-Length` when it has one; else chunked. An answer to a
///   `HEAD` keeps its head's framing fields and sends no body.
///
/// NIO's decoder, made by `configureHTTPServerPipeline`, tells each request's method to that
/// pipeline's encoder; this codec keeps them itself (``methods``), so the decoder here is one made
/// without an encoder (``DetachedConnections``).
struct HTTP1Codec {
    /// The methods of the requests read and not yet answered, oldest first (one, unless the
    /// client pipelines).
    private var methods: [HTTPMethod] = []
    /// How the answer being written frames its body.
    private var framing = Framing.none

    /// How an answer's body goes on the wire.
    enum Framing: Equatable {
        /// No body (a status or a method without one): its writes are refused.
        case none
        /// As it is: its head says its length.
        case length
        /// Each write a chunk, then the last chunk.
        case chunked
    }

    /// The request's head as HTTP types: origin form as it is, any other target as the codec converts it.
    static func request(_ head: HTTPRequestHead) throws -> HTTPRequest {
        guard head.uri.utf8.first == UInt8(ascii: "/") else { return try HTTPRequest(head, secure: false, splitCookie: false) }
        return HTTPRequest(
            method: try HTTPRequest.Method(head.method), scheme: "http", authority: head.headers["Host"].first, path: head.uri,
            headerFields: HTTPFields(head.headers, splitCookie: false)
        )
    }

    /// A part the decoder read, as HTTP types; a head's method is kept for its answer.
    mutating func decode(_ part: HTTPServerRequestPart) throws -> HTTPRequestPart {
        switch part {
        case .head(let head):
            self.methods.append(head.method)
            return .head(try Self.request(head))
        case .body(let body):
            return .body(body)
        case .end(let trailers):
            return .end(trailers.map { HTTPFields($0, splitCookie: false) })
        }
    }

    /// A part of an answer as its bytes on the wire (an empty buffer for a part that writes
    /// nothing, so that its write's promise keeps its place among the others).
    /// - Throws: `NIOHTTPResponseEncoderError.responseBodyNotAllowed` for a body where the
    ///   answer has none.
    mutating func encode(_ part: HTTPResponsePart, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        switch part {
        case .head(let response):
            // A 1xx other than 101 comes before the answer, which the request still waits for.
            let informational = (100..<200).contains(response.status.code) && response.status.code != 101
            let method = informational || self.methods.isEmpty ? nil : self.methods.removeFirst()
            let (head, framing) = Self.head(response, method: method, allocator: allocator)
            self.framing = framing
            return head
        case .body(let body):
            switch self.framing {
            case .none:
                throw NIOHTTPResponseEncoderError.responseBodyNotAllowed
            case .length:
                return body
            case .chunked:
                // An empty chunk would end the body.
                guard body.readableBytes > 0 else { return body }
                let size = String(body.readableBytes, radix: 16)
                var chunk = allocator.buffer(capacity: size.utf8.count + body.readableBytes + 4)
                chunk.writeString(size)
                chunk.writeStaticString("\r\n")
                chunk.writeImmutableBuffer(body)
                chunk.writeStaticString("\r\n")
                return chunk
            }
        case .end(let trailers):
            let framing = self.framing
            self.framing = .none
            guard framing == .chunked else { return ByteBuffer() }
            var last = allocator.buffer(capacity: 5)
            last.writeStaticString("0\r\n")
            if let trailers {
                Self.writeFields(trailers, into: &last)
            } else {
                last.writeStaticString("\r\n")
            }
            return last
        }
    }

    /// `response`'s head as HTTP/1.1 writes it (its status line with NIO's reason phrase, its
    /// fields, the blank line) and how its body is framed, for a request of `method` (nil: not
    /// known). Framed as NIO's encoder frames it: without a body (no `Content-Length` or
    /// `Transfer-Encoding`) for a status that has none or a `CONNECT`; by its `Content-Length`
    /// when it has one (no `Transfer-Encoding`); else chunked (`transfer-encoding: chunked`
    /// last). An answer to a `HEAD` keeps those fields and has no body.
    static func head(_ response: HTTPResponse, method: HTTPMethod?, allocator: ByteBufferAllocator) -> (ByteBuffer, Framing) {
        let code = response.status.code
        let status = HTTPResponseStatus(statusCode: code, reasonPhrase: response.status.reasonPhrase)
        var fields = response.headerFields
        // Whatever the route set, the framing is this codec's (NIO's encoder drops it too).
        if fields.contains(.transferEncoding) { fields[.transferEncoding] = nil }
        let framing: Framing
        if method == .CONNECT || !status.mayHaveResponseBody {
            if fields.contains(.contentLength) { fields[.contentLength] = nil }
            framing = .none
        } else {
            framing = fields.contains(.contentLength) ? .length : .chunked
        }
        let (digits, phrase) = (String(code), status.reasonPhrase)
        // The status line, each field's line and the blank line.
        var size: Int = Self.version.utf8CodeUnitCount + digits.utf8.count + 1 + phrase.utf8.count + 2
        for field in fields {
            let line: Int = field.name.rawName.utf8.count + 2 + field.value.utf8.count
            size += line + 2
        }
        size += 2
        if framing == .chunked { size += Self.chunked.utf8CodeUnitCount }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var at = 0
            func put(_ bytes: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bytes.count)]).copyMemory(from: bytes)
                at += bytes.count
            }
            func put(_ text: String) {
                var text = text
                text.withUTF8 { put(UnsafeRawBufferPointer($0)) }
            }
            func put(_ text: StaticString) {
                put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
            }
            put(Self.version)
            put(digits)
            put(" " as StaticString)
            put(phrase)
            put(Self.lineEnd)
            for field in fields {
                put(field.name.rawName)
                put(": " as StaticString)
                put(field.value)
                put(Self.lineEnd)
            }
            if framing == .chunked { put(Self.chunked) }
            put(Self.lineEnd)
            return at
        }
        return (buffer, method == .HEAD ? .none : framing)
    }

    private static let version: StaticString = "HTTP/1.1 "
    private static let lineEnd: StaticString = "\r\n"
    /// What NIO's encoder adds to a head without a length: last, in its spelling.
    private static let chunked: StaticString = "transfer-encoding: chunked\r\n"

    /// Each field as `name: value` and a line end, then the blank line.
    private static func writeFields(_ fields: HTTPFields, into buffer: inout ByteBuffer) {
        for field in fields {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }
}
