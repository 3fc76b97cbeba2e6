import RedisNIO

/// A token's id: 24 base64url characters from the system CSPRNG (about 144 bits), never
/// beginning with `-`: a command line would take such a token for an option (`tokenpool
/// unblock -h...` printed help and exited 0).
public struct Token: Sendable, Hashable, CustomStringConvertible {
    public static let length = 24
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public let rawValue: String

    /// Accepts exactly the format ``random()`` writes: 24 characters of `[A-Za-z0-9_-]`.
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == Self.length, allBase64URL(text) else { return nil }
        self.rawValue = String(text)
    }

    /// A new token from `SystemRandomNumberGenerator` (getrandom(2) on Linux).
    public static func random() -> Token {
        var generator = SystemRandomNumberGenerator()
        var characters: [UInt8] = []
        characters.reserveCapacity(Self.length)
        // Three words of 64 bits; 48 bits (8 characters of 6 bits) taken from each.
        for _ in 0..<3 {
            var word = generator.next()
            for _ in 0..<8 {
                characters.append(Self.alphabet[Int(word & 63)])
                word >>= 6
            }
        }
        while characters[0] == UInt8(ascii: "-") {
            characters[0] = Self.alphabet[Int(generator.next() & 63)]
        }
        return Token(unchecked: String(decoding: characters, as: UTF8.self))
    }

    private init(unchecked: String) {
        self.rawValue = unchecked
    }

    public var description: String { self.rawValue }
}

/// A pool's name: 1 to 64 characters of `[A-Za-z0-9_-]`.
public struct PoolName: Sendable, Hashable, CustomStringConvertible {
    public static let `default` = PoolName(unchecked: "default")

    public let rawValue: String

    public init?(_ text: some StringProtocol) {
        guard text.utf8.count >= 1, text.utf8.count <= 64, allBase64URL(text) else { return nil }
        self.rawValue = String(text)
    }

    private init(unchecked: String) {
        self.rawValue = unchecked
    }

    public var description: String { self.rawValue }
}

/// `[A-Za-z0-9_-]`: the characters of tokens and pool names alike (and of the routes'
/// path parameters, `RouteMatcher`).
package func isBase64URL(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
        true
    default:
        false
    }
}

/// Whether every character of `text` is `[A-Za-z0-9_-]`: a loop over its UTF-8 bytes where they
/// are contiguous (a native string's always are), not the view's iterator (a token and a pool
/// name are checked on every request: ~850 instructions a token that way, docs/profile.md).
package func allBase64URL(_ text: some StringProtocol) -> Bool {
    text.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy { isBase64URL($0) } } ?? text.utf8.allSatisfy { isBase64URL($0) }
}
