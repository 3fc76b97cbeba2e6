import ArgumentParser
import Crypto
import Foundation

/// `tokenpool keys`: makes the keys file's entries without a key ever being written to it.
public struct KeysCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Make API keys and their keys-file entries.", subcommands: [Hash.self, New.self]
    )

    public init() {}

    /// `tokenpool keys hash`: a key on stdin, its SHA-256 on stdout.
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the SHA-256 of a key read on stdin (one line; the line break is not part of it).",
            discussion: "printf %s \"$KEY\" | tokenpool keys hash"
        )

        func run() throws {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            var key = String(decoding: input, as: UTF8.self)
            while key.hasSuffix("\n") || key.hasSuffix("\r") { key.removeLast() }
            guard !key.isEmpty else { throw ValidationError("no key on stdin") }
            print(APIKey.hex(APIKey.digest(of: key)))
        }
    }

    /// `tokenpool keys new`: a new random key, printed once, and its entry.
    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a random key: prints the key once (line 1) and the keys-file entry to paste (line 2)."
        )

        @Option(help: "The key's name: 1 to 64 of [A-Za-z0-9_.@:-]; what logs and the audit trail show.")
        var name: String

        @Option(help: "admin or client.")
        var role: String

        @Option(parsing: .upToNextOption, help: "Pool names or prefixes ending in * it may use. Default: every pool.")
        var pools: [String] = []

        @Option(help: "Requests per second it may make (counted across every replica). Default: no limit.")
        var rate: Double?

        @Option(help: "Requests it may make at once above --rate. Default: --rate rounded up.")
        var burst: Int?

        func validate() throws {
            guard APIKey.isValidName(self.name) else { throw ValidationError("--name must be 1 to 64 of [A-Za-z0-9_.@:-]") }
            guard APIKey.Role(rawValue: self.role) != nil else { throw ValidationError("--role must be admin or client") }
            guard PoolScope(patterns: self.pools) != nil else { throw ValidationError("--pools: each a pool name, or a prefix ending in *") }
            if let rate, !(rate > 0 && rate <= 1_000_000) { throw ValidationError("--rate must be above 0, at most 1000000") }
            if let burst, !(1...1_000_000).contains(burst) { throw ValidationError("--burst must be 1 to 1000000") }
            if self.burst != nil && self.rate == nil { throw ValidationError("--burst needs --rate") }
        }

        func run() throws {
            // 32 random bytes from the system's generator, base64url: 43 characters.
            let key = "tp_" + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            var entry: [String: Any] = ["name": self.name, "sha256": APIKey.hex(APIKey.digest(of: key)), "role": self.role]
            if !self.pools.isEmpty { entry["pools"] = self.pools }
            if let rate { entry["rate"] = ["perSecond": rate, "burst": self.burst ?? max(1, Int(rate.rounded(.up)))] as [String: Any] }
            let json = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys, .withoutEscapingSlashes])
            print(key)
            print(String(decoding: json, as: UTF8.self))
        }
    }
}
