import HTTPTypes
import Hummingbird
import RedisTokenPool

/// Finds a hot route from its path's bytes, ahead of the router: compiled from the route
/// table's templates, not written by hand.
///
/// The hot routes are most of a busy pool's traffic, and Hummingbird's router splits a path one
/// `Character` at a time (grapheme breaking included) before it walks its trie: a tenth of such
/// a request's instructions (docs/profile.md). So their templates are compiled into segments of
/// bytes, and a path is matched against those. Only the one canonical spelling is taken: a
/// literal segment byte for byte, a parameter as one segment of `[A-Za-z0-9_-]` (so no `%`, never
/// empty) and `{token}` of exactly ``Token/length`` characters; no trailing slash. Anything else
/// goes to the router, which has the same routes and answers as it always did.
struct HotRouteMatcher<Payload: Sendable>: Sendable {
    /// A template's segment.
    enum Segment: Sendable, Equatable {
        case literal([UInt8])
        /// A parameter, and how many bytes it may have.
        case parameter(String, ClosedRange<Int>)
    }

    struct Route: Sendable {
        let method: HTTPRequest.Method
        /// As the router names it in `context.endpointPath` (the metrics' route label).
        let template: String
        let segments: [Segment]
        let payload: Payload
    }

    /// What a parameter may be, by name; any other is 1 or more bytes.
    static var parameterLengths: [String: ClosedRange<Int>] { ["token": Token.length...Token.length] }

    /// Most literal segments first, as the router prefers `/tokens/assign` to `/tokens/{token}`.
    let routes: [Route]

    init(_ routes: [(method: HTTPRequest.Method, template: String, payload: Payload)]) {
        self.routes = routes.map { route in
            let segments = route.template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { segment -> Segment in
                guard segment.first == "{", segment.last == "}" else { return .literal(Array(segment.utf8)) }
                let name = String(segment.dropFirst().dropLast())
                return .parameter(name, Self.parameterLengths[name] ?? 1...Int.max)
            }
            return Route(method: route.method, template: route.template, segments: segments, payload: route.payload)
        }.sorted { $0.literalCount > $1.literalCount }
    }

    /// The route whose template `path` spells canonically, with its parameters; nil for any other.
    func match(_ method: HTTPRequest.Method, _ path: String) -> (route: Route, parameters: Parameters)? {
        let found = path.utf8.withContiguousStorageIfAvailable { bytes -> (Route, Parameters)? in
            for route in self.routes where route.method == method {
                if let parameters = route.match(bytes, in: path) { return (route, parameters) }
            }
            return nil
        }
        return found ?? nil
    }
}

extension HotRouteMatcher.Route {
    fileprivate var literalCount: Int {
        self.segments.count { if case .literal = $0 { true } else { false } }
    }

    /// `/SEGMENT/SEGMENT...` against the template, segment by segment; the parameters' values on a match.
    fileprivate func match(_ bytes: UnsafeBufferPointer<UInt8>, in path: String) -> Parameters? {
        var at = 0
        var parameters = Parameters()
        for segment in self.segments {
            guard at < bytes.count, bytes[at] == UInt8(ascii: "/") else { return nil }
            at += 1
            let start = at
            while at < bytes.count, bytes[at] != UInt8(ascii: "/") { at += 1 }
            let value = UnsafeBufferPointer(rebasing: bytes[start..<at])
            switch segment {
            case .literal(let literal):
                guard value.elementsEqual(literal) else { return nil }
            case .parameter(let name, let lengths):
                guard lengths.contains(value.count), value.allSatisfy(isBase64URL) else { return nil }
                let utf8 = path.utf8
                parameters.append(key: Substring(name), value: Substring(utf8[utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: at)]))
            }
        }
        return at == bytes.count ? parameters : nil
    }
}
