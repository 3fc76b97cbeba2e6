import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Testing

@testable import TokenAPI

/// ``HTTP1Codec`` against the two handlers it stands in for on a parking connection (swift-nio-extras'
/// `HTTP1ToHTTPServerCodec` and NIO's `HTTPResponseEncoder`, paired with NIO's decoder as
/// `configureHTTPServerPipeline` pairs them): the same requests from the same targets, the same
/// bytes on the wire for the same answers.
struct HTTP1CodecTests {
    /// The same request NIO's codec makes, for every kind of target (the codec only skips the URL
    /// parse where that parse keeps the target as it is).
    @Test(arguments: [
        "/pools/default/tokens/assign", "/pools/default/tokens/abc/unblock?lease=12", "/", "//evil.example/x", "/a b", "/%zz?q=%",
        "http://example.com/pools?limit=2", "http://example.com", "*", "example.com:443", "pools",
    ])
    func aRequestIsTheOneNIOsCodecMakes(target: String) throws {
        var headers = HTTPHeaders([("Host", "example.com"), ("Content-Type", "application/json"), ("Cookie", "a=1; b=2")])
        headers.add(name: "X-Twice", value: "1")
        headers.add(name: "X-Twice", value: "2")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target, headers: headers)
        let expected = Result { try HTTPRequest(head, secure: false, splitCookie: false) }
        let made = Result { try HTTP1Codec.request(head) }
        switch (expected, made) {
        case (.success(let expected), .success(let made)):
            #expect(made == expected)
            #expect(made.path == expected.path && made.headerFields == expected.headerFields)
        case (.failure, .failure): break
        default: Issue.record("NIO's codec: \(expected), this one: \(made)")
        }
    }

    /// An answer as the parking handler writes it, to a request of some method.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let parts: [HTTPResponsePart]
        var testDescription: String { "\(self.name) to a \(self.method)" }
    }

    static let json = ByteBuffer(string: #"{"token":"abc","lease":7}"#)

    static func head(_ status: HTTPResponse.Status, _ fields: [(HTTPField.Name, String)]) -> HTTPResponsePart {
        var head = HTTPResponse(status: status)
        for (name, value) in fields { head.headerFields.append(HTTPField(name: name, value: value)) }
        return .head(head)
    }

    static let cases: [Case] = {
        let lengthFields: [(HTTPField.Name, String)] = [
            (.contentType, "application/json"), (.contentLength, String(json.readableBytes)), (.date, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (.server, "tokenpool"),
        ]
        let stream: [(HTTPField.Name, String)] = [(.contentType, "text/event-stream"), (.cacheControl, "no-cache")]
        let answers: [(String, [HTTPResponsePart])] = [
            ("200 with a length", [head(.ok, lengthFields), .body(json), .end(nil)]),
            ("201 with a length and Transfer-Encoding", [head(.created, lengthFields + [(.transferEncoding, "chunked")]), .body(json), .end(nil)]),
            ("413, which the two name differently", [head(.contentTooLarge, lengthFields), .body(json), .end(nil)]),
            ("599 of its own", [head(HTTPResponse.Status(code: 599, reasonPhrase: "Mine"), lengthFields), .body(json), .end(nil)]),
            ("204 with a length", [head(.noContent, lengthFields), .end(nil)]),
            ("304 with Transfer-Encoding", [head(.notModified, [(.transferEncoding, "chunked"), (HTTPField.Name("ETag")!, "\"1\"")]), .end(nil)]),
            (
                "a stream",
                [
                    head(.ok, stream), .body(ByteBuffer(string: "data: 1\n\n")), .body(ByteBuffer()), .body(ByteBuffer(repeating: 0x78, count: 300)),
                    .end(nil),
                ]
            ),
            ("a stream with trailers", [head(.ok, stream), .body(ByteBuffer(string: "data: 2\n\n")), .end([HTTPField.Name("X-Done")!: "yes"])]),
            ("an empty stream", [head(.ok, stream + [(.transferEncoding, "gzip")]), .end(nil)]),
        ]
        return ["GET", "HEAD", "POST", "CONNECT"].flatMap { method in answers.map { Case(name: $0.0, method: method, parts: $0.1) } }
    }()

    @Test(arguments: cases)
    func anAnswerHasNIOsBytes(_ answer: Case) throws {
        let target = answer.method == "CONNECT" ? "example.com:443" : "/pools/default/tokens/assign"
        let request = ByteBuffer(string: "\(answer.method) \(target) HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n")
        // NIO's handlers, as `configureHTTPServerPipeline` and swift-nio-extras pair them.
        let nio = EmbeddedChannel()
        try nio.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
        try nio.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try nio.writeInbound(request)
        while try nio.readInbound(as: HTTPRequestPart.self) != nil {}
        for part in answer.parts {
            // A body to a HEAD or CONNECT is refused, and writes nothing.
            _ = try? nio.writeOutbound(part)
        }
        var expected: [UInt8] = []
        while let data = try nio.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { continue }
            expected += buffer.readableBytesView
        }
        _ = try nio.finish(acceptAlreadyClosed: true)

        // The codec as the parking handler drives it: the decoder's parts in, the answer's bytes out.
        let decoder = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        try decoder.writeInbound(request)
        var codec = HTTP1Codec()
        while let part = try decoder.readInbound(as: HTTPServerRequestPart.self) { _ = try codec.decode(part) }
        var wire: [UInt8] = []
        for part in answer.parts {
            // The same refusal: a body where the answer has none.
            guard let bytes = try? codec.encode(part, allocator: ByteBufferAllocator()) else { continue }
            wire += bytes.readableBytesView
        }
        _ = try decoder.finish(acceptAlreadyClosed: true)
        #expect(String(decoding: wire, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        #expect(!wire.isEmpty)
    }
}
