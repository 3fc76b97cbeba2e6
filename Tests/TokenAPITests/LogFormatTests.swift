import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import TokenAPI

struct LogFormatTests {
    static func lines(_ format: LineLogHandler.Format, _ body: (Logger) -> Void) -> [String] {
        let lines = NIOLockedValueBox<[String]>([])
        var logger = Logger(label: "t") { label in
            LineLogHandler(label: label, format: format) { line in lines.withLockedValue { $0.append(line) } }
        }
        logger[metadataKey: "hb.request.id"] = "abc123"
        body(logger)
        return lines.withLockedValue { $0 }
    }

    @Test func logfmtQuotesWhatNeedsQuotingAndCarriesTheRequestID() {
        let lines = Self.lines(.logfmt) { $0.info("Redis unavailable", metadata: ["error": "a=b \"c\""]) }
        #expect(lines.count == 1)
        let line = lines[0]
        #expect(line.hasPrefix("ts="))
        #expect(line.contains(#" level=info msg="Redis unavailable" error="a=b \"c\"" hb.request.id=abc123 "#))
    }

    @Test func jsonLinesParseAndCarryTheRequestID() throws {
        let lines = Self.lines(.json) { $0.warning("line\nbreak", metadata: ["tokenpool.pool": "red"]) }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["msg"] == "line\nbreak")
        #expect(object["level"] == "warning")
        #expect(object["hb.request.id"] == "abc123")
        #expect(object["tokenpool.pool"] == "red")
    }

    /// A request's logger (``RequestLoggers``) names its request as `hb.request.id` from the
    /// handler's own word, not its metadata: each request its own id, written when a line is,
    /// readable as metadata (Hummingbird's `context.id`), and a level set on it still holds.
    @Test func eachRequestsLoggerWritesItsOwnID() throws {
        let lines = NIOLockedValueBox<[String]>([])
        var base = Logger(label: "t") { label in
            LineLogHandler(label: label, format: .json) { line in lines.withLockedValue { $0.append(line) } }
        }
        base.logLevel = .debug
        let loggers = RequestLoggers(base)
        var (first, second) = (loggers.next(), loggers.next())
        base.info("server")
        first.debug("first")
        second.info("second")
        second.logLevel = .warning
        second.info("not written")
        let objects = try lines.withLockedValue { lines in
            try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]) }
        }
        #expect(objects.map { $0["msg"] } == ["server", "first", "second"])
        let ids = objects.map { $0["hb.request.id"] }
        #expect(ids[0] == nil)
        #expect(ids[1]?.count == 32 && ids[2]?.count == 32 && ids[1] != ids[2])
        #expect(first[metadataKey: "hb.request.id"]?.description == ids[1])
        #expect(first.logLevel == .debug && second.logLevel == .warning)
        first[metadataKey: "hb.request.id"] = "abc123"
        first.info("named")
        #expect(lines.withLockedValue { $0.last?.contains(#""hb.request.id":"abc123""#) } == true)
    }

    /// A copy (a logger with metadata of its own) fits a logger's existential inline: three
    /// words, no box allocated for it.
    @Test func theHandlerFitsALoggersExistentialInline() {
        #expect(MemoryLayout<LineLogHandler>.size <= 3 * MemoryLayout<Int>.size)
    }
}
