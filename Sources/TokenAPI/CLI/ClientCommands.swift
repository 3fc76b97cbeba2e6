import ArgumentParser
import Foundation
import NIOHTTP1

/// `tokenpool generate [--count N]`
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate tokens (admin key); prints one token a line.")
    @OptionGroup var options: ServerOptions
    @Option(help: "How many (1-10000).") var count = 1

    func run() async throws {
        let code = try await TokenPoolHTTP.with(self.options) { http in
            let answer = await http.call(.POST, "/tokens/batch", body: #"{"count": \#(self.count)}"#)
            return http.report(answer) { json in
                ((json["tokens"] as? [[String: Any]]) ?? []).map { $0["token"] as? String ?? "" }.joined(separator: "\n")
            }
        }
        throw ExitCode(code)
    }
}

/// `tokenpool assign`: exit 3 when no token is free.
struct AssignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "assign", abstract: "Assign a random free token; exit 3 if none is free.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let code = try await TokenPoolHTTP.with(self.options) { http in
            http.report(await http.call(.POST, "/tokens/assign"), noFreeToken: true) { $0.tokenLine }
        }
        throw ExitCode(code)
    }
}

/// `tokenpool keep-alive TOKEN [--lease N]`
struct KeepAliveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keep-alive", abstract: "Keep a token (and its lease) alive.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget

    func run() async throws {
        throw ExitCode(try await self.target.post("keep-alive", self.options))
    }
}

/// `tokenpool unblock TOKEN [--lease N]`
struct UnblockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unblock", abstract: "Make an assigned token free again.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget

    func run() async throws {
        throw ExitCode(try await self.target.post("unblock", self.options))
    }
}

/// A token and, optionally, the lease its holder has: what keep-alive and unblock act on.
struct LeaseTarget: ParsableArguments {
    @Argument var token: String
    @Option(help: "The lease you hold; 409 (exit 5) if it is not the current one.") var lease: Int?

    func post(_ action: String, _ options: ServerOptions) async throws -> Int32 {
        let query = self.lease.map { "?lease=\($0)" } ?? ""
        return try await TokenPoolHTTP.with(options) { http in
            http.report(await http.call(.POST, "/tokens/\(self.token)/\(action)\(query)")) { $0.tokenLine }
        }
    }
}

/// `tokenpool delete TOKEN`
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a token for good (admin key).")
    @OptionGroup var options: ServerOptions
    @Argument var token: String

    func run() async throws {
        let code = try await TokenPoolHTTP.with(self.options) { http in
            let answer = await http.call(.DELETE, "/tokens/\(self.token)")
            if answer.status == 204 && self.options.json { print("{}") }
            return http.report(answer) { _ in "" }
        }
        throw ExitCode(code)
    }
}

/// `tokenpool stats`
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count the pool's tokens (admin key).")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let code = try await TokenPoolHTTP.with(self.options) { http in
            http.report(await http.call(.GET, "/stats")) { json in
                "total \(json["total"] as? Int ?? 0)\tfree \(json["free"] as? Int ?? 0)\tassigned \(json["assigned"] as? Int ?? 0)"
            }
        }
        throw ExitCode(code)
    }
}
