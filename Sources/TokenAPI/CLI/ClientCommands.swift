import ArgumentParser
import TokenPoolClient

/// `tokenpool generate [--count N]`
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate tokens (admin key); prints one token a line.")
    @OptionGroup var options: ServerOptions
    @Option(help: "How many (1-10000).") var count = 1

    func run() async throws {
        let pool = self.options.pool
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.generate(count: self.count, in: pool) }) {
            $0.map(\.token).joined(separator: "\n")
        })
    }
}

/// `tokenpool assign`: exit 3 when no token is free.
struct AssignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "assign", abstract: "Assign a random free token; exit 3 if none is free.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let pool = self.options.pool
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.assign(in: pool) }) { $0.line })
    }
}

/// `tokenpool keep-alive TOKEN [--lease N]`
struct KeepAliveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keep-alive", abstract: "Keep a token (and its lease) alive.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget

    func run() async throws {
        let (token, lease, pool) = (self.target.token, self.target.lease, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.keepAlive(token, lease: lease, in: pool) }) { $0.line })
    }
}

/// `tokenpool unblock TOKEN [--lease N]`
struct UnblockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unblock", abstract: "Make an assigned token free again.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget

    func run() async throws {
        let (token, lease, pool) = (self.target.token, self.target.lease, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.unblock(token, lease: lease, in: pool) }) { $0.line })
    }
}

/// A token and, optionally, the lease its holder has: what keep-alive and unblock act on.
struct LeaseTarget: ParsableArguments {
    @Argument var token: String
    @Option(help: "The lease you hold; 409 (exit 5) if it is not the current one.") var lease: Int64?
}

/// `tokenpool delete TOKEN`
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a token for good (admin key).")
    @OptionGroup var options: ServerOptions
    @Argument var token: String

    func run() async throws {
        let (token, pool) = (self.token, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) -> Empty in
            try await client.delete(token, in: pool)
            return Empty()
        }) { _ in "" })
    }
}

/// `tokenpool stats`
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count the pool's tokens (admin key).")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let pool = self.options.pool
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.stats(of: pool) }) {
            "total \($0.total)\tfree \($0.free)\tassigned \($0.assigned)\twaiting \($0.waiting)"
        })
    }
}
