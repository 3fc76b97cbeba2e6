import Testing

@testable import RedisNIO
@testable import RedisTokenPool

struct ConfigurationTests {
    @Test func readsHostPortPasswordAndDatabaseFromARedisURL() throws {
        let configuration = try RedisConfiguration(url: "redis://user:p%40ss@cache.local:6380/3")
        #expect(configuration.address == .tcp(host: "cache.local", port: 6380))
        #expect(configuration.username == "user")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == 3)
    }

    @Test func readsAUnixSocketURLAndTheDbQuery() throws {
        let configuration = try RedisConfiguration(url: "unix:///tmp/x/redis.sock?db=2")
        #expect(configuration.address == .unixSocket(path: "/tmp/x/redis.sock"))
        #expect(configuration.database == 2)
        #expect(configuration.password == nil)
    }

    @Test(arguments: ["http://localhost", "redis://", "redis://host/x", "redis://host?db=-1", "nonsense"])
    func refusesURLsItCannotUse(_ url: String) {
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: url) }
    }

    @Test func tokensAre24Base64URLCharactersAndDistinct() {
        let tokens = (0..<1000).map { _ in Token.random() }
        #expect(Set(tokens).count == 1000)
        for token in tokens {
            #expect(Token(token.rawValue) == token)
            #expect(token.rawValue.count == 24)
        }
    }

    /// A command line takes `-...` for an option: `tokenpool unblock -hX...` printed its help and
    /// exited 0. With every character equally likely, ~1 in 64 tokens would begin with `-`.
    @Test func noTokenBeginsWithADash() {
        let firsts = (0..<20_000).map { _ in Token.random().rawValue.utf8.first! }
        #expect(!firsts.contains(UInt8(ascii: "-")))
        // The other 63 characters still come first (each ~317 times here).
        #expect(Set(firsts).count == 63)
    }

    @Test(arguments: ["", "short", String(repeating: "a", count: 23), String(repeating: "a", count: 25), "aaaaaaaaaaaaaaaaaaaaaaa=", "aaaaaaaaaaaaaaaaaaaaaaa/"])
    func refusesMalformedTokens(_ text: String) {
        #expect(Token(text) == nil)
    }

    @Test func poolNamesAre1To64SafeCharacters() {
        #expect(PoolName("a-B_9") != nil)
        #expect(PoolName(String(repeating: "p", count: 64)) != nil)
        #expect(PoolName("") == nil)
        #expect(PoolName(String(repeating: "p", count: 65)) == nil)
        #expect(PoolName("a{b}") == nil)
        #expect(PoolName("a:b") == nil)
    }
}

struct SentinelURLTests {
    @Test func readsSentinelsMasterNameCredentialsAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://app:p%40ss@s1:26379,s2:26380,s3/tokens?db=2")
        #expect(configuration.sentinel?.sentinels == [.tcp(host: "s1", port: 26379), .tcp(host: "s2", port: 26380), .tcp(host: "s3", port: 26379)])
        #expect(configuration.sentinel?.masterName == "tokens")
        #expect(configuration.username == "app" && configuration.password == "p@ss")
        #expect(configuration.database == 2)
        #expect(configuration.tls == nil)
        #expect(try RedisConfiguration(url: "rediss-sentinel://s1/m").tls != nil)
    }

    @Test(arguments: ["redis-sentinel://s1:26379", "redis-sentinel:///m", "redis-sentinel://s1:x/m", "redis-sentinel://s1/m?db=-1", "redis-sentinel://s1:0/m"])
    func refusesSentinelURLsItCannotUse(_ url: String) {
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: url) }
    }
}
