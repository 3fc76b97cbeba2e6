import ArgumentParser
import AsyncHTTPClient
import Foundation
import TokenPoolClient

/// Where the client subcommands send their requests, and how they print answers.
struct ServerOptions: ParsableArguments {
    @Option(help: "TokenPool's base URL (TOKENPOOL_SERVER). Default http://127.0.0.1:8080.")
    var server: String?

    @Option(help: "The pool. Default: default.")
    var pool = "default"

    @Flag(help: "Print the answer as JSON instead of plain text.")
    var json = false

    /// A client of the server, with the key from TOKENPOOL_KEY sent as `Authorization: Bearer`,
    /// trusting the CAs of TOKENPOOL_CA_FILE (PEM) for an `https://` server, if set.
    var client: TokenPoolClient {
        let environment = ProcessInfo.processInfo.environment
        let base = self.server ?? environment["TOKENPOOL_SERVER"] ?? "http://127.0.0.1:8080"
        var client = TokenPoolClient(baseURL: base, key: environment["TOKENPOOL_KEY"].flatMap { $0.isEmpty ? nil : $0 }, httpClient: CLIHTTPClient.shared)
        // TOKENPOOL_TRACE=1: each answer's protocol, status and request on stderr (like curl -v, without headers).
        if environment["TOKENPOOL_TRACE"] == "1" {
            client.trace = { FileHandle.standardError.write(Data("tokenpool: \($0)\n".utf8)) }
        }
        return client
    }

    /// Runs one call: prints its answer (JSON, or the plain text `plain` makes of it) and exits
    /// 0, or prints the error on stderr and exits with the code a shell can tell apart.
    func run<T: Encodable>(_ call: (TokenPoolClient) async throws(TokenPoolClientError) -> T, plain: (T) -> String) async -> Int32 {
        do {
            let answer = try await call(self.client)
            if self.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: (try? encoder.encode(answer)) ?? Data("{}".utf8), as: UTF8.self))
            } else {
                let text = plain(answer)
                if !text.isEmpty { print(text) }
            }
            return 0
        } catch {
            Self.report(error)
            return ClientExit.code(for: error)
        }
    }

    static func report(_ error: TokenPoolClientError) {
        FileHandle.standardError.write(Data("tokenpool: \(error)\n".utf8))
    }
}

/// The command's one HTTP client: AsyncHTTPClient's shared one, or one that trusts
/// TOKENPOOL_CA_FILE's CAs (made once, living as long as the process).
enum CLIHTTPClient {
    static let shared: HTTPClient = {
        guard let caFile = ProcessInfo.processInfo.environment["TOKENPOOL_CA_FILE"], !caFile.isEmpty else { return .shared }
        do {
            return try TokenPoolClient.httpClient(trustingCAFile: caFile)
        } catch {
            FileHandle.standardError.write(Data("tokenpool: TOKENPOOL_CA_FILE \(caFile): not a PEM file of certificates\n".utf8))
            exit(ClientExit.failed)
        }
    }()
}

/// Exit codes a shell can tell apart.
enum ClientExit {
    static let noFreeToken: Int32 = 3
    static let notFound: Int32 = 4
    static let conflict: Int32 = 5
    static let unavailable: Int32 = 6
    static let unauthorized: Int32 = 7
    /// `hold`: a lease was lost while the command ran, and the command was stopped.
    static let leaseLost: Int32 = 8
    static let holderLimit: Int32 = 9
    static let failed: Int32 = 1

    static func code(for error: TokenPoolClientError) -> Int32 {
        switch error.code {
        case .noFreeToken: Self.noFreeToken
        case .tokenNotFound, .poolNotFound: Self.notFound
        case .leaseConflict, .idempotencyKeyInUse, .idempotencyKeyReused: Self.conflict
        case .unauthorized: Self.unauthorized
        case .holderLimit: Self.holderLimit
        case .unavailable, .transport: Self.unavailable
        case .badRequest, .server: Self.failed
        }
    }
}

extension TokenInfo {
    /// `TOKEN  STATE  LEASE  UNTIL`: one token per line for scripts (`cut -f1`).
    var line: String {
        ([self.token, self.state.rawValue] + [self.lease.map { String($0) }, self.leaseExpiresAt, self.availableAt, self.reason].compactMap { $0 })
            .joined(separator: "\t")
    }
}

/// What a call that answers nothing prints with `--json`.
struct Empty: Encodable {}
