/// Which master serves each hash slot, as `CLUSTER SLOTS` said last, corrected by `MOVED`.
struct SlotMap: Sendable {
    /// The masters, each once.
    private(set) var masters: [RedisConfiguration.Address] = []
    /// Index into `masters` for each slot; -1 while no master is known for it.
    private var owners = [Int16](repeating: -1, count: HashSlot.count)

    init() {}

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id], replica...], ...]`. A node
    /// that gives no host (`""`) is on `fallbackHost`, the address it was asked at.
    init(clusterSlots reply: RESPValue, fallbackHost: String) throws(RedisClientError) {
        guard let ranges = reply.array else { throw .unexpectedReply("CLUSTER SLOTS: \(reply.shape)") }
        for range in ranges {
            guard let fields = range.array, fields.count >= 3, let start = fields[0].int, let end = fields[1].int,
                let master = fields[2].array, master.count >= 2, let host = master[0].string, let port = master[1].int,
                (0..<HashSlot.count).contains(start), (start..<HashSlot.count).contains(end)
            else {
                throw .unexpectedReply("CLUSTER SLOTS: a range that is not [start, end, [host, port, ...], ...]")
            }
            self.assign(start...end, to: .tcp(host: host.isEmpty ? fallbackHost : host, port: port))
        }
    }

    func master(of slot: Int) -> RedisConfiguration.Address? {
        let index = self.owners[slot]
        return index < 0 ? nil : self.masters[Int(index)]
    }

    /// Slots no master serves.
    var uncovered: Int { self.owners.count { $0 < 0 } }

    mutating func assign(_ slots: ClosedRange<Int>, to address: RedisConfiguration.Address) {
        let index: Int
        if let known = self.masters.firstIndex(of: address) {
            index = known
        } else {
            self.masters.append(address)
            index = self.masters.count - 1
        }
        for slot in slots { self.owners[slot] = Int16(index) }
    }
}

/// A `-MOVED 3999 127.0.0.1:6381` or `-ASK 3999 127.0.0.1:6381` reply, read.
struct Redirection: Sendable, Equatable {
    enum Kind: Sendable { case moved, ask }
    var kind: Kind
    var slot: Int
    var address: RedisConfiguration.Address

    init?(_ error: RedisServerError) {
        let parts = error.message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]) else {
            return nil
        }
        switch parts[0] {
        case "MOVED": self.kind = .moved
        case "ASK": self.kind = .ask
        default: return nil
        }
        self.slot = slot
        self.address = .tcp(host: String(parts[2][..<colon]), port: port)
    }
}
