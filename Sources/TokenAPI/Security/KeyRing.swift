import Foundation

/// The keys that may call the API at one moment: the `--admin-key`/`--client-key` flags' and
/// the keys file's. A request looks its key up in one ring from start to end, so a reload never
/// mixes two rings' rules within a request. Empty: the service is open.
struct KeyRing: Sendable {
    let keys: [APIKey]
    /// Each key's digest as four words, in `keys` order: a lookup compares these, contiguous and
    /// without reference counts, and touches `keys` only for the one it found.
    private let digests: [SIMD4<UInt64>]

    var isOpen: Bool { self.keys.isEmpty }

    /// The flags' keys (each of every pool, without a rate) and the file's entries. Flag keys are
    /// named `admin-key-1`, `client-key-1`, ... by their place.
    init(adminKeys: [String] = [], clientKeys: [String] = [], file: [APIKey] = []) throws(KeysFileError) {
        let flags =
            adminKeys.enumerated().map { APIKey(name: "admin-key-\($0.offset + 1)", digest: APIKey.digest(of: $0.element), role: .admin, pools: .every, rate: nil) }
            + clientKeys.enumerated().map { APIKey(name: "client-key-\($0.offset + 1)", digest: APIKey.digest(of: $0.element), role: .client, pools: .every, rate: nil) }
        let keys = flags + file
        var names: Set<String> = []
        var digests: Set<[UInt8]> = []
        for key in keys {
            guard names.insert(key.name).inserted else { throw KeysFileError("key \"\(key.name)\": the name is used twice") }
            guard digests.insert(key.digest).inserted else { throw KeysFileError("key \"\(key.name)\": its sha256 is another key's too") }
        }
        self.keys = keys
        self.digests = keys.map { Self.words($0.digest) }
    }

    /// The key whose digest is `presented`'s. Compares with every key, each in constant time, so
    /// the time taken says nothing about which keys exist or how close a guess came.
    func key(presented: Substring) -> APIKey? {
        let digest = Self.words(APIKey.digest(of: presented))
        var found = -1
        for index in self.digests.indices {
            let difference = self.digests[index] ^ digest
            if (difference[0] | difference[1] | difference[2] | difference[3]) == 0 { found = index }
        }
        return found < 0 ? nil : self.keys[found]
    }

    /// A 32-byte digest as four words.
    private static func words(_ digest: [UInt8]) -> SIMD4<UInt64> {
        precondition(digest.count == 32, "a SHA-256 digest is 32 bytes")
        return digest.withUnsafeBytes { bytes in
            func word(_ index: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) }
            return SIMD4(word(0), word(1), word(2), word(3))
        }
    }

}

/// A keys file that cannot be used, and why (naming the entry; never a key or a digest).
struct KeysFileError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The keys file (`--keys-file`): JSON,
///
/// ```json
/// {"keys": [
///   {"name": "crawler", "sha256": "<64 hex digits>", "role": "client", "pools": ["proxies-*"], "rate": {"perSecond": 50, "burst": 100}},
///   {"name": "ops", "sha256": "<64 hex digits>", "role": "admin"}
/// ]}
/// ```
///
/// Unknown fields are refused (a misspelt `pools` must not give a key every pool).
enum KeysFile {
    static let entryFields: Set<String> = ["name", "sha256", "role", "pools", "rate"]

    static func read(path: String) throws(KeysFileError) -> (bytes: Data, keys: [APIKey]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw KeysFileError("cannot read the keys file \(path)")
        }
        return (data, try Self.parse(data))
    }

    static func parse(_ data: Data) throws(KeysFileError) -> [APIKey] {
        guard let document = try? JSONSerialization.jsonObject(with: data), let root = document as? [String: Any] else {
            throw KeysFileError("the keys file is not a JSON object")
        }
        guard Set(root.keys) == ["keys"], let entries = root["keys"] as? [Any] else {
            throw KeysFileError("the keys file must be {\"keys\": [...]}")
        }
        return try entries.enumerated().map { (index, entry) throws(KeysFileError) in try Self.key(entry, at: index) }
    }

    private static func key(_ entry: Any, at index: Int) throws(KeysFileError) -> APIKey {
        guard let fields = entry as? [String: Any] else { throw KeysFileError("keys[\(index)] is not an object") }
        guard let name = fields["name"] as? String, APIKey.isValidName(name) else {
            throw KeysFileError("keys[\(index)]: name must be 1 to 64 of [A-Za-z0-9_.@:-]")
        }
        let entry = "key \"\(name)\""
        if let unknown = Set(fields.keys).subtracting(Self.entryFields).sorted().first {
            throw KeysFileError("\(entry): unknown field \"\(unknown.prefix(64))\"")
        }
        guard let hex = fields["sha256"] as? String, let digest = APIKey.digest(hex: hex) else {
            throw KeysFileError("\(entry): sha256 must be 64 hex digits (tokenpool keys hash prints them)")
        }
        guard let roleText = fields["role"] as? String, let role = APIKey.Role(rawValue: roleText) else {
            throw KeysFileError("\(entry): role must be \"admin\" or \"client\"")
        }
        var pools = PoolScope.every
        if let given = fields["pools"] {
            guard let patterns = given as? [String], let scope = PoolScope(patterns: patterns) else {
                throw KeysFileError("\(entry): pools must be a list of pool names, or of prefixes ending in *")
            }
            pools = scope
        }
        var rate: KeyRate?
        if let given = fields["rate"] {
            guard let object = given as? [String: Any], Set(object.keys).isSubset(of: ["perSecond", "burst"]),
                let perSecond = (object["perSecond"] as? NSNumber)?.doubleValue, perSecond > 0, perSecond <= 1_000_000
            else {
                throw KeysFileError("\(entry): rate must be {\"perSecond\": R, \"burst\": B} with 0 < R <= 1000000")
            }
            let burst = (object["burst"] as? NSNumber)?.intValue ?? max(1, Int(perSecond.rounded(.up)))
            guard (1...1_000_000).contains(burst), object["burst"] == nil || (object["burst"] as? NSNumber)?.doubleValue == Double(burst) else {
                throw KeysFileError("\(entry): rate.burst must be a whole number from 1 to 1000000")
            }
            rate = KeyRate(perSecond: perSecond, burst: burst)
        }
        return APIKey(name: name, digest: digest, role: role, pools: pools, rate: rate)
    }
}
