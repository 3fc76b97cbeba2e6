import Testing

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
