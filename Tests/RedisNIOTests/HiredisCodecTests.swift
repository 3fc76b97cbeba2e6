import NIOCore
import NIOEmbedded
import Testing

@testable import RedisNIO

struct HiredisCodecTests {
    @Test func encodesArgumentsWithTheirExactLengthsZeroBytesIncluded() throws {
        for write in [HiredisEncoder.write, RESPEncoder.write] as [([String], inout ByteBuffer) -> Void] {
            var buffer = ByteBuffer()
            write(["SET", "k", "a\u{0}b", ""], &buffer)
            #expect(String(buffer: buffer) == "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\u{0}b\r\n$0\r\n\r\n")
        }
    }

    /// The Swift encoder writes what hiredis's `redisFormatCommandArgv` writes, for any arguments.
    @Test func theSwiftEncoderAgreesWithHiredisByteForByte() throws {
        var generator = SystemRandomNumberGenerator()
        // Light on purpose: every suite runs at once, some with 0.5 s Redis timeouts.
        for round in 0..<60 {
            let count = Int.random(in: 0...20, using: &generator)
            let arguments = (0..<count).map { _ in
                String(decoding: (0..<Int.random(in: 0...120, using: &generator)).map { _ in UInt8.random(in: 0...127, using: &generator) }, as: UTF8.self)
            } + ["é✓ unicode", String(repeating: "x", count: round == 0 ? 12_345 : 10)]
            var hiredis = ByteBuffer()
            var swift = ByteBuffer()
            HiredisEncoder.write(arguments, into: &hiredis)
            RESPEncoder.write(arguments, into: &swift)
            #expect(hiredis == swift)
        }
    }

    @Test func decodesRepliesSplitAcrossReadsAndPipelinedInOneRead() async throws {
        let channel = try await NIOAsyncTestingChannel(handler: RedisCommandHandler())
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
        let deadline = channel.eventLoop.now + .seconds(1)
        let promises = (0..<4).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for promise in promises {
            try await channel.writeOutbound(RedisRequest(arguments: ["PING"], promise: promise, deadline: deadline))
        }
        try await channel.writeInbound(ByteBuffer(string: "*3\r\n$2\r\nok\r\n:4"))
        #expect(channel.isActive)
        try await channel.writeInbound(ByteBuffer(string: "2\r\n$-1\r\n+PONG\r\n-ERR no\r\n*1\r\n*0\r\n"))
        #expect(try await promises[0].futureResult.get() == .array([.bulkString(ByteBuffer(string: "ok")), .integer(42), .null]))
        #expect(try await promises[1].futureResult.get() == .simpleString("PONG"))
        #expect(try await promises[2].futureResult.get() == .error("ERR no"))
        #expect(try await promises[3].futureResult.get() == .array([.array([])]))
    }

    @Test func aReplyTypeTheDecoderDoesNotKnowIsAnErrorNotANull() throws {
        #expect(throws: RedisClientError.self) { try HiredisReader.value(ofSyntheticReplyType: 99) }
        #expect(try HiredisReader.value(ofSyntheticReplyType: 4) == .null)
    }

    @Test func bytesThatAreNotRESPFailTheCommandsAndCloseTheConnection() async throws {
        let channel = try await NIOAsyncTestingChannel(handler: RedisCommandHandler())
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        try await channel.writeOutbound(RedisRequest(arguments: ["PING"], promise: promise, deadline: channel.eventLoop.now + .seconds(1)))
        try await channel.writeInbound(ByteBuffer(string: "!what\r\n"))
        await #expect(throws: RedisClientError.self) { try await promise.futureResult.get() }
        #expect(!channel.isActive)
    }

    @Test func matchesPipelinedRepliesToCommandsInOrder() async throws {
        let channel = try await NIOAsyncTestingChannel(handler: RedisCommandHandler())
        let first = channel.eventLoop.makePromise(of: RESPValue.self)
        let second = channel.eventLoop.makePromise(of: RESPValue.self)
        let deadline = channel.eventLoop.now + .seconds(1)
        try await channel.writeOutbound(RedisRequest(arguments: ["GET", "a"], promise: first, deadline: deadline))
        try await channel.writeOutbound(RedisRequest(arguments: ["GET", "b"], promise: second, deadline: deadline))
        #expect(try await channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        #expect(try await channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        try await channel.writeInbound(ByteBuffer(string: ":1\r\n:2\r\n"))
        #expect(try await first.futureResult.get() == .integer(1))
        #expect(try await second.futureResult.get() == .integer(2))
    }

    @Test func aCommandWithoutReplyTimesOutAndClosesTheConnection() async throws {
        let channel = try await NIOAsyncTestingChannel(handler: RedisCommandHandler())
        try await channel.connect(to: .init(ipAddress: "127.0.0.1", port: 6379))
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        try await channel.writeOutbound(RedisRequest(arguments: ["PING"], promise: promise, deadline: channel.eventLoop.now + .milliseconds(100)))
        await channel.testingEventLoop.advanceTime(by: .milliseconds(50))
        #expect(channel.isActive)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(100))
        await #expect(throws: RedisClientError.timeout) { try await promise.futureResult.get() }
        #expect(!channel.isActive)
    }
}
