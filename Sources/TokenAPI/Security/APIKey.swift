import Crypto
import RedisTokenPool

/// One key that may call the API: its name (what logs, audit entries and events show; the key
/// itself is never kept, only its SHA-256), its role, the pools it may touch and its rate.
struct APIKey: Sendable, Equatable {
    enum Role: String, Sendable {
        /// Generate, batch, delete, stats, pool settings, and everything a client may do.
        case admin
        /// Assign, unblock, keep-alive, inspect, list, events, waiters.
        case client
    }

    /// 1 to 64 of `[A-Za-z0-9_.@:-]`.
    let name: String
    /// SHA-256 of the key, 32 bytes.
    let digest: [UInt8]
    let role: Role
    let pools: PoolScope
    let rate: KeyRate?

    /// An admin key of every pool: the only kind that may read the audit trail and the metrics.
    var isGlobalAdmin: Bool { self.role == .admin && self.pools == .every }

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { isBase64URL($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: ":") }
    }

    /// SHA-256 of a key's UTF-8 bytes.
    static func digest(of key: some StringProtocol) -> [UInt8] {
        Array(SHA256.hash(data: Array(key.utf8)))
    }

    /// 64 lowercase hex digits.
    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(digest.count * 2)
        for byte in digest { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: text, as: UTF8.self)
    }

    /// 64 hex digits (either case) as 32 bytes; nil for anything else.
    static func digest(hex text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count == 64 else { return nil }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var digest: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            digest.append(high << 4 | low)
        }
        return digest
    }
}

/// The pools a key may touch: every one, or those matching a list of names and prefixes.
enum PoolScope: Sendable, Equatable {
    case every
    /// Exact names, and prefixes (a pattern `team-a-*` is the prefix `team-a-`).
    case only(names: Set<String>, prefixes: [String])

    /// `["shared", "team-a-*"]`; nil when a pattern is neither a pool name nor one with a `*`
    /// at its end. `*` alone is every pool.
    init?(patterns: [String]) {
        var names: Set<String> = []
        var prefixes: [String] = []
        for pattern in patterns {
            if pattern == "*" {
                self = .every
                return
            }
            if pattern.hasSuffix("*") {
                guard PoolName(pattern.dropLast()) != nil else { return nil }
                prefixes.append(String(pattern.dropLast()))
            } else {
                guard PoolName(pattern) != nil else { return nil }
                names.insert(pattern)
            }
        }
        self = .only(names: names, prefixes: prefixes)
    }

    func allows(_ pool: PoolName) -> Bool {
        switch self {
        case .every: true
        case .only(let names, let prefixes): names.contains(pool.rawValue) || prefixes.contains { pool.rawValue.hasPrefix($0) }
        }
    }
}

/// At most `perSecond` requests a second on average, and `burst` at once after a rest: a
/// generic cell rate (GCRA) kept in Redis, so every replica counts against the same budget.
struct KeyRate: Sendable, Equatable {
    let perSecond: Double
    let burst: Int
}
