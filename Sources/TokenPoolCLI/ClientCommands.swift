import ArgumentParser
import Foundation
import TokenPoolClient

/// `tokenpool generate [--count N] [--metadata '{...}']`
public struct GenerateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate tokens (admin key); prints one token a line.")
    @OptionGroup var options: ServerOptions
    @Option(help: "How many (1-10000).") var count = 1
    @Option(help: "A JSON object for every token made, e.g. '{\"proxy\": \"10.0.0.7:3128\"}' (at most 4 KiB).") var metadata: String?

    public init() {}

    public func run() async throws {
        let (pool, count) = (self.options.pool, self.count)
        let metadata = try self.metadata.map(Self.object)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.generate(count: count, metadata: metadata, in: pool) }) {
            $0.map(\.token).joined(separator: "\n")
        })
    }

    static func object(_ text: String) throws -> [String: JSONValue] {
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)) else {
            throw ValidationError("--metadata must be a JSON object, like '{\"proxy\": \"10.0.0.7:3128\"}'")
        }
        return object
    }
}

/// `tokenpool assign [--holder NAME] [--count N] [--priority P] [--wait 30s]`: one line a token;
/// exit 3 when too few are free (within the wait), 8 when the holder is at the pool's cap.
public struct AssignCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "assign", abstract: "Assign a random free token (or N at once, all or none); exit 3 if too few are free."
    )
    @OptionGroup var options: ServerOptions
    @Option(help: "Who takes it (1-128 characters), shown in listings while the lease stands.") var holder: String?
    @Option(help: "How many tokens at once, all or none (1-100).") var count = 1
    @Option(help: "A waiting assign's priority (-100 to 100): higher is served first.") var priority = 0
    @Option(help: "How long to wait in the pool's queue when too few are free: 30s, 2m, 500ms or seconds (the server's --max-wait at most).")
    var wait: String = "0"

    public init() {}

    public func validate() throws {
        guard (1...100).contains(self.count) else { throw ValidationError("--count must be from 1 to 100") }
        guard (-100...100).contains(self.priority) else { throw ValidationError("--priority must be from -100 to 100") }
        guard HoldCommand.duration(self.wait) != nil else { throw ValidationError("--wait takes 30s, 2m, 500ms or a number of seconds") }
    }

    public func run() async throws {
        let (pool, holder, count, priority) = (self.options.pool, self.holder, self.count, self.priority)
        let wait = HoldCommand.duration(self.wait) ?? .zero
        guard count > 1 || priority != 0 || wait > .zero else {
            throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.assign(in: pool, holder: holder) }) { $0.line })
        }
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in
            TokenList(tokens: try await client.assign(count: count, priority: priority, wait: wait, in: pool, holder: holder))
        }) { $0.tokens.map(\.line).joined(separator: "\n") })
    }
}

/// `tokenpool waiters`: the pool's queue in the order it will be served.
public struct WaitersCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "waiters",
        abstract: "List the pool's waiting assigns in the order they will be served: PRIORITY COUNT SINCE WAIT-UNTIL [HOLDER] [SET-ASIDE...]."
    )
    @OptionGroup var options: ServerOptions

    public init() {}

    public func run() async throws {
        let pool = self.options.pool
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) -> WaiterPage in
            var page = try await client.waiters(of: pool, limit: 1000)
            var cursor = page.next
            while let next = cursor {
                let more = try await client.waiters(of: pool, limit: 1000, cursor: next)
                page.waiters += more.waiters
                cursor = more.next
            }
            page.next = nil
            return page
        }) { page in
            page.waiters.enumerated().map { index, waiter in
                ([String(waiter.priority), String(waiter.count), waiter.since, waiter.waitUntil, waiter.holder ?? "-"]
                    + (index == 0 ? page.setAside : [])).joined(separator: "\t")
            }.joined(separator: "\n")
        })
    }
}

/// `tokenpool list [--state assigned|free|cooling|disabled|all] [--limit N]`: every page, one token a line.
public struct ListCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the pool's tokens: assigned ones by lease deadline, free ones, or all by life deadline."
    )
    @OptionGroup var options: ServerOptions
    @Option(help: "assigned, free, cooling, disabled or all.") var state: TokenListing = .all
    @Option(help: "At most this many (pages of up to 1000 are fetched until then).") var limit = 1000

    public init() {}

    public func run() async throws {
        let (pool, state, limit) = (self.options.pool, self.state, self.limit)
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) -> [TokenInfo] in
            var tokens: [TokenInfo] = []
            var cursor: String?
            repeat {
                let page = try await client.tokens(state, in: pool, limit: min(1000, limit - tokens.count), cursor: cursor)
                tokens += page.tokens
                cursor = page.next
            } while cursor != nil && tokens.count < limit
            return Array(tokens.prefix(limit))
        }) { tokens in
            tokens.map { ([$0.line] + [$0.holder, $0.metadata.flatMap(Self.compact)].compactMap { $0 }).joined(separator: "\t") }.joined(separator: "\n")
        })
    }

    static func compact(_ metadata: [String: JSONValue]) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(metadata)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// `tokenpool pools`: every pool with its counts and TTLs.
public struct PoolsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "pools", abstract: "List every pool with its counts and TTLs.")
    @OptionGroup var options: ServerOptions

    public init() {}

    public func run() async throws {
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) -> [PoolInfo] in
            var pools: [PoolInfo] = []
            var cursor: String?
            repeat {
                let page = try await client.pools(limit: 1000, cursor: cursor)
                pools += page.pools
                cursor = page.next
            } while cursor != nil
            return pools
        }) { pools in
            pools.map {
                "\($0.pool)\ttotal \($0.total)\tfree \($0.free)\tassigned \($0.assigned)\twaiting \($0.waiting)\tcooling \($0.cooling)\tdisabled \($0.disabled)"
                    + "\treserved \($0.reserved)"
                    + "\tleaseTTL \(Self.seconds($0.leaseTTL))\tkeepAliveTTL \(Self.seconds($0.keepAliveTTL))"
                    + "\tcooldown \($0.cooldown.map(Self.seconds) ?? "none")\tmaxFailures \($0.maxFailures.map { String($0) } ?? "none")"
                    + "\tquarantine \($0.quarantine.map(Self.seconds) ?? "none")"
                    + "\trateLimit \($0.rateLimit.map { "\($0.assigns)/\(Self.seconds($0.per))s" } ?? "none")"
                    + "\tmaxPerHolder \($0.maxPerHolder.map { String($0) } ?? "none")"
            }.joined(separator: "\n")
        })
    }

    /// `4`, `1.5`: seconds as a person writes them.
    static func seconds(_ value: Double) -> String {
        String(format: "%g", value)
    }
}

extension TokenListing: ExpressibleByArgument {}

/// `tokenpool keep-alive TOKEN [--lease N]`
public struct KeepAliveCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "keep-alive", abstract: "Keep a token (and its lease) alive.")
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget

    public init() {}

    public func run() async throws {
        let (token, lease, pool) = (self.target.token, self.target.lease, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.keepAlive(token, lease: lease, in: pool) }) { $0.line })
    }
}

/// `tokenpool unblock TOKEN [--lease N] [--cooldown S] [--outcome success|failure]`
public struct UnblockCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "unblock", abstract: "End a token's assignment: free again, or cooling first; report how it went."
    )
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget
    @Option(help: "Seconds the token rests before anyone may take it again (0 < S <= 86400), e.g. an upstream 429's Retry-After.")
    var cooldown: Double?
    @Option(help: "success (clears its failures) or failure (counts toward the pool's maxFailures).") var outcome: Outcome?

    public init() {}

    public func validate() throws {
        if let cooldown = self.cooldown, !(cooldown > 0 && cooldown <= 86_400) { throw ValidationError("--cooldown must be more than 0 and at most 86400") }
    }

    public func run() async throws {
        let (token, lease, pool, outcome) = (self.target.token, self.target.lease, self.options.pool, self.outcome)
        let cooldown = self.cooldown.map { Duration.milliseconds(max(1, Int64(($0 * 1000).rounded()))) }
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in
            try await client.unblock(token, lease: lease, cooldown: cooldown, outcome: outcome, in: pool)
        }) { $0.line })
    }
}

extension Outcome: ExpressibleByArgument {}

/// `tokenpool disable TOKEN [--lease N] [--reason TEXT]`
public struct DisableCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Take a token out of service until enabled (admin key, or a client key with --lease)."
    )
    @OptionGroup var options: ServerOptions
    @OptionGroup var target: LeaseTarget
    @Option(help: "Why (1-256 characters), shown with the token until it is enabled.") var reason: String?

    public init() {}

    public func run() async throws {
        let (token, lease, pool, reason) = (self.target.token, self.target.lease, self.options.pool, self.reason)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in
            try await client.disable(token, lease: lease, reason: reason, in: pool)
        }) { $0.line })
    }
}

/// `tokenpool enable TOKEN`
public struct EnableCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "enable", abstract: "Put a disabled token back in service (admin key).")
    @OptionGroup var options: ServerOptions
    @Argument(help: tokenHelp) var token: String

    public init() {}

    public func run() async throws {
        let (token, pool) = (self.token, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.enable(token, in: pool) }) { $0.line })
    }
}

/// TokenPool no longer makes tokens that begin with `-`; an older one may have.
private let tokenHelp = ArgumentHelp("The token (one that begins with '-', made by an older TokenPool, goes after '--').")

/// A token and, optionally, the lease its holder has: what keep-alive and unblock act on.
struct LeaseTarget: ParsableArguments {
    @Argument(help: tokenHelp) var token: String
    @Option(help: "The lease you hold; 409 (exit 5) if it is not the current one.") var lease: Int64?
}

/// `tokenpool delete TOKEN`
public struct DeleteCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a token for good (admin key).")
    @OptionGroup var options: ServerOptions
    @Argument(help: tokenHelp) var token: String

    public init() {}

    public func run() async throws {
        let (token, pool) = (self.token, self.options.pool)
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) -> Empty in
            try await client.delete(token, in: pool)
            return Empty()
        }) { _ in "" })
    }
}

/// `tokenpool stats`
public struct StatsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count the pool's tokens (admin key).")
    @OptionGroup var options: ServerOptions

    public init() {}

    public func run() async throws {
        let pool = self.options.pool
        throw ExitCode(await self.options.run({ client throws(TokenPoolClientError) in try await client.stats(of: pool) }) {
            "total \($0.total)\tfree \($0.free)\tassigned \($0.assigned)\twaiting \($0.waiting)\tcooling \($0.cooling)\tdisabled \($0.disabled)"
                + "\treserved \($0.reserved)"
        })
    }
}
