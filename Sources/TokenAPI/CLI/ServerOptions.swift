import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Where the client subcommands send their requests, and how they print answers.
struct ServerOptions: ParsableArguments {
    @Option(help: "TokenPool's base URL (TOKENPOOL_SERVER). Default http://127.0.0.1:8080.")
    var server: String?

    @Option(help: "The pool. Default: default.")
    var pool = "default"

    @Flag(help: "Print the server's JSON instead of plain text.")
    var json = false

    var baseURL: String {
        (self.server ?? ProcessInfo.processInfo.environment["TOKENPOOL_SERVER"] ?? "http://127.0.0.1:8080")
            .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    /// The key sent as `Authorization: Bearer`, from TOKENPOOL_KEY.
    var key: String? { ProcessInfo.processInfo.environment["TOKENPOOL_KEY"].flatMap { $0.isEmpty ? nil : $0 } }
}

/// Exit codes a shell can tell apart.
enum ClientExit {
    static let noFreeToken: Int32 = 3
    static let notFound: Int32 = 4
    static let conflict: Int32 = 5
    static let unavailable: Int32 = 6
    static let unauthorized: Int32 = 7
    static let failed: Int32 = 1

    static func code(for status: Int, noFreeToken: Bool = false) -> Int32 {
        switch status {
        case 200..<300: 0
        case 404: noFreeToken ? Self.noFreeToken : Self.notFound
        case 409: Self.conflict
        case 401, 403: Self.unauthorized
        case 0, 502, 503, 504: Self.unavailable
        default: Self.failed
        }
    }
}

/// A small HTTP client of TokenPool's API for the CLI.
struct TokenPoolHTTP {
    let options: ServerOptions
    let client: HTTPClient

    struct Answer {
        var status: Int
        var body: String
        var json: [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data(self.body.utf8)) as? [String: Any]
        }
    }

    static func with<T>(_ options: ServerOptions, _ body: (TokenPoolHTTP) async throws -> T) async throws -> T {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await body(TokenPoolHTTP(options: options, client: client))
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `path` below the pool's prefix, e.g. `/tokens/assign`; `/stats` likewise.
    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async -> Answer {
        let prefix = self.options.pool == "default" ? "" : "/pools/\(self.options.pool)"
        var request = HTTPClientRequest(url: self.options.baseURL + prefix + path)
        request.method = method
        if let key = self.options.key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await self.client.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return Answer(status: Int(response.status.code), body: String(buffer: bytes))
        } catch {
            return Answer(status: 0, body: "cannot reach \(self.options.baseURL): \(error)")
        }
    }

    /// Prints an answer (JSON, or the plain line `plain` makes of it; a problem's detail on stderr)
    /// and returns its exit code.
    func report(_ answer: Answer, noFreeToken: Bool = false, plain: ([String: Any]) -> String) -> Int32 {
        if (200..<300).contains(answer.status) {
            if self.options.json {
                print(answer.body)
            } else if let json = answer.json {
                print(plain(json))
            }
        } else {
            let detail = (answer.json?["detail"] as? String) ?? answer.body
            FileHandle.standardError.write(Data("tokenpool: \(answer.status == 0 ? "" : "\(answer.status) ")\(detail)\n".utf8))
        }
        return ClientExit.code(for: answer.status, noFreeToken: noFreeToken)
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `TOKEN  STATE  lease N  until TIME`: one token per line for scripts (`cut -f1`).
    var tokenLine: String {
        var fields = [self["token"] as? String ?? "", self["state"] as? String ?? ""]
        if let lease = self["lease"] as? Int { fields.append(String(lease)) }
        if let until = self["leaseExpiresAt"] as? String { fields.append(until) }
        return fields.joined(separator: "\t")
    }
}
