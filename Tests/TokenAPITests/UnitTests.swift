import ArgumentParser
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import RedisNIO
import RedisTokenPool
import Testing

@testable import TokenAPI

/// Small pieces with no server: configuration precedence, RFC 3339, the JSON writer.
struct UnitTests {
    @Test func aFlagBeatsTheEnvironmentWhichBeatsTheDefault() throws {
        let environment = ["TOKENPOOL_LEASE_TTL": "7", "PORT": "9000", "TOKENPOOL_REDIS_CONNECTIONS": "2"]
        var command = try ServeCommand.parse(["--lease-ttl", "3"])
        let resolved = try command.resolve(environment)
        #expect(resolved.leaseTTL == .seconds(3))  // flag
        #expect(resolved.port == 9000)  // environment
        #expect(resolved.redisConnections == 2)
        #expect(resolved.keepAliveTTL == Defaults.keepAliveTTL)  // default
        #expect(resolved.redisTimeout == RedisDefaults.commandTimeout)
        command = try ServeCommand.parse([])
        #expect(try command.resolve([:]).leaseTTL == Defaults.leaseTTL)
        #expect(throws: (any Error).self) { try ServeCommand.parse([]).resolve(["TOKENPOOL_LEASE_TTL": "soon"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--lease-ttl", "-1"]).resolve([:]) }
    }

    @Test func theEventLoopThreadsAreNIOsDefaultUnlessSet() throws {
        #expect(try ServeCommand.parse([]).resolve([:]).threads == nil)
        #expect(try ServeCommand.parse([]).resolve(["TOKENPOOL_THREADS": "1"]).threads == 1)
        #expect(try ServeCommand.parse(["--threads", "3"]).resolve(["TOKENPOOL_THREADS": "1"]).threads == 3)
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--threads", "0"]).resolve([:]) }
    }

    @Test func theFlagsHelpShowsTheDefaults() {
        let help = ServeCommand.helpMessage()
        #expect(help.contains("Default \(Defaults.leaseTTL.secondsText)."))
        #expect(help.contains("Default \(RedisDefaults.connections)."))
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"), (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"), (951_782_400_000, "2000-02-29T00:00:00.000Z"), (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func rfc3339WritesUTCWithMilliseconds(_ millis: Int64, _ text: String) {
        #expect(RFC3339.string(fromMilliseconds: millis) == text)
    }

    @Test func rfc3339AgreesWithFoundationOverManyDays() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for step in stride(from: Int64(-5_000_000_000_000), to: 5_000_000_000_000, by: 97_654_321_000) {
            #expect(RFC3339.string(fromMilliseconds: step) == style.format(Date(timeIntervalSince1970: Double(step) / 1000)))
        }
    }

    @Test func theJSONWriterEscapesAndNests() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("text", "a\"b\\c\n\u{1}é")
        writer.field("plain", "tok_-1")
        writer.field("empty", "")
        writer.field("none", nil as String?)
        writer.field("number", Int64(-42))
        writer.field("seconds", secondsFromMilliseconds: 1500)
        writer.field("whole", secondsFromMilliseconds: 60000)
        writer.field("tiny", secondsFromMilliseconds: 7)
        writer.beginArray("list")
        writer.beginObject()
        writer.field("n", 1)
        writer.endObject()
        writer.beginObject()
        writer.endObject()
        writer.endArray()
        writer.endObject()
        let text = String(buffer: writer.buffer)
        #expect(text == #"{"text":"a\"b\\c\u000a\u0001é","plain":"tok_-1","empty":"","none":null,"number":-42,"seconds":1.5,"whole":60,"tiny":0.007,"list":[{"n":1},{}]}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
        #expect(parsed?["text"] as? String == "a\"b\\c\n\u{1}é")
    }

    /// Numbers and timestamps are written digit by digit into the buffer: the edges come out as
    /// `String(_:)` and the formatter write them.
    @Test func theJSONWriterWritesNumbersAndTimestampsInPlace() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("min", Int64.min)
        writer.field("max", Int64.max)
        writer.field("zero", 0)
        writer.field("negative", secondsFromMilliseconds: -1250)
        writer.field("at", timestampFromMilliseconds: 1_700_000_000_123)
        writer.field("late", timestampFromMilliseconds: 253_402_300_800_000)  // year 10000: past the fixed width
        writer.field("never", timestampFromMilliseconds: nil)
        writer.endObject()
        #expect(
            String(buffer: writer.buffer)
                == #"{"min":-9223372036854775808,"max":9223372036854775807,"zero":0,"negative":-1.25,"at":"2023-11-14T22:13:20.123Z","late":"\#(RFC3339.string(fromMilliseconds: 253_402_300_800_000))","never":null}"#
        )
        #expect(RFC3339.string(fromMilliseconds: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }

    @Test func theDateFieldIsThisSecondsAsRFC9110SpellsIt() {
        let before = AnswerChannel.date()
        let field = AnswerChannel.dateField()
        let after = AnswerChannel.date()
        #expect(field.name == .date)
        #expect(field.value == before || field.value == after)
        #expect(AnswerChannel.date(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
