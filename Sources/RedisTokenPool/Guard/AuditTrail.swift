import RedisNIO

/// Who did what: every admin change and every refused request (401, 403, 429), in one Redis
/// stream whose entry ids are Redis's clock. Kept for ``retention`` and at most about
/// ``maxEntries`` entries (trimmed on each write, O(1) amortized: audit.lua).
public struct AuditTrail: Sendable {
    /// One entry, as written: field names and values (never a key, only its name).
    public struct Entry: Sendable, Equatable {
        /// `MS-N`: Redis's clock in ms when it was written, and a sequence within that ms.
        public let id: String
        public let fields: [(name: String, value: String)]

        public init(id: String, fields: [(name: String, value: String)]) {
            (self.id, self.fields) = (id, fields)
        }

        /// Redis's clock when it was written, in ms since the epoch.
        public var milliseconds: Int64 { Int64(self.id.prefix { $0 != "-" }) ?? 0 }

        public subscript(name: String) -> String? { self.fields.first { $0.name == name }?.value }

        public static func == (a: Entry, b: Entry) -> Bool {
            a.id == b.id && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
        }
    }

    private let client: RedisClient
    private let key: String
    public let retention: Duration
    public let maxEntries: Int

    public init(pool: TokenPool, retention: Duration, maxEntries: Int) {
        self.client = pool.client
        self.key = "\(pool.settings.keyPrefix):audit"
        (self.retention, self.maxEntries) = (retention, maxEntries)
    }

    /// Appends an entry; answers its id.
    @discardableResult
    public func record(_ fields: [(name: String, value: String)]) async throws -> String {
        let arguments = [String(self.maxEntries), String(self.retention.milliseconds)] + fields.flatMap { [$0.name, $0.value] }
        let reply = try await self.client.evaluate(PoolScript.audit.script, keys: [self.key], arguments: arguments, changesState: false)
        guard let id = reply.string else { throw RedisClientError.unexpectedReply("audit: \(reply.shape)") }
        return id
    }

    /// Up to `limit` entries, oldest first: those after the entry `cursor` (an id this gave), or
    /// else from `since` (ms, Redis's clock) on. O(log n + limit).
    public func entries(since: Int64?, after cursor: String?, limit: Int) async throws -> Page<Entry> {
        let start = cursor.map { "(\($0)" } ?? since.map { String($0) } ?? "-"
        let reply = try await self.client.send("XRANGE", self.key, start, "+", "COUNT", String(limit))
        guard let items = reply.array else { throw RedisClientError.unexpectedReply("XRANGE: \(reply.shape)") }
        let entries = try items.map { item -> Entry in
            guard let parts = item.array, parts.count == 2, let id = parts[0].string, let values = parts[1].array, values.count % 2 == 0 else {
                throw RedisClientError.unexpectedReply("XRANGE entry: \(item.shape)")
            }
            let texts = values.map { $0.string ?? "" }
            return Entry(id: id, fields: stride(from: 0, to: texts.count, by: 2).map { (texts[$0], texts[$0 + 1]) })
        }
        return Page(items: entries, next: entries.count == limit ? entries.last?.id : nil)
    }

    /// Whether `text` is an id as ``entries(since:after:limit:)`` gives them: `MS-N`, MS of at
    /// most 15 digits and N of at most 19 (Redis refuses ids past 64 bits, and an exclusive
    /// start at the largest one).
    public static func isCursor(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) else { return false }
        return parts[0].utf8.count <= 15 && parts[1].utf8.count <= 19
    }
}
