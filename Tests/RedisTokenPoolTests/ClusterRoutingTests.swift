import NIOCore
import Testing

@testable import RedisNIO
@testable import RedisTokenPool

/// Redis Cluster routing, without a cluster: slots, redirections, the slot map, the URL.
struct ClusterRoutingTests {
    @Test func hashSlotsAreRedisOwn() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.of("foo") == 12182)
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("{user1000}.followers"))
        #expect(HashSlot.of("{}x") == HashSlot.of("{}x"))
        #expect(HashSlot.of("{}x") != HashSlot.of("x"))  // an empty tag is no tag
        let keys = PoolKeys(prefix: "tokenpool", pool: PoolName("proxies")!)
        // The keys the scripts name themselves (never passed) must share the slot too.
        let named = [keys.cooling, keys.disabled, keys.health, keys.wants, keys.aside, keys.held, keys.absent, keys.idempotencyRecord("assign", "k")]
        let slots = Set((keys.scriptKeys + named).map(HashSlot.of))
        #expect(slots == [HashSlot.of("proxies")])
    }

    @Test func redirectionsAreRead() {
        let moved = Redirection(RedisServerError("MOVED 3999 127.0.0.1:6381"))
        #expect(moved?.kind == .moved && moved?.slot == 3999 && moved?.address == .tcp(host: "127.0.0.1", port: 6381))
        #expect(Redirection(RedisServerError("ASK 12 10.0.0.2:7000"))?.kind == .ask)
        #expect(Redirection(RedisServerError("ERR something else")) == nil)
        #expect(Redirection(RedisServerError("MOVED x 127.0.0.1:6381")) == nil)
    }

    @Test func theSlotMapComesFromClusterSlotsAndMovedCorrectsIt() throws {
        func node(_ host: String, _ port: Int) -> RESPValue { .array([.bulkString(.init(string: host)), .integer(port), .bulkString(.init(string: "id"))]) }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        var map = try SlotMap(clusterSlots: reply, fallbackHost: "10.1.1.1")
        #expect(map.uncovered == 0)
        #expect(map.master(of: 0) == .tcp(host: "127.0.0.1", port: 7000))
        #expect(map.master(of: 5461) == .tcp(host: "10.1.1.1", port: 7001))
        #expect(map.master(of: 16383) == .tcp(host: "127.0.0.1", port: 7002))
        map.assign(100...100, to: .tcp(host: "127.0.0.1", port: 7002))
        #expect(map.master(of: 100) == .tcp(host: "127.0.0.1", port: 7002))
        #expect(map.masters.count == 3)
        #expect(throws: RedisClientError.self) { try SlotMap(clusterSlots: .array([.array([.integer(0)])]), fallbackHost: "h") }
    }

    @Test func readsAClusterURL() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://:secret@n1:7000,n2:7001")
        #expect(configuration.cluster?.seeds == [.tcp(host: "n1", port: 7000), .tcp(host: "n2", port: 7001)])
        #expect(configuration.password == "secret" && configuration.sentinel == nil)
        #expect(try RedisConfiguration(url: "rediss-cluster://n1:7000").tls != nil)
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: "redis-cluster://n1:7000/2") }
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: "redis-cluster://n1:7000?db=1") }
    }
}
