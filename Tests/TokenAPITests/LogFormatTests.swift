import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import TokenAPI

struct LogFormatTests {
    static func lines(_ format: LineLogHandler.Format, _ body: (Logger) -> Void) -> [String] {
        let lines = NIOLockedValueBox<[String]>([])
        var logger = Logger(label: "t") { label in LineLogHandler(label: label, format: format) { line in lines.withLockedValue { $0.append(line) } } }
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

    /// A copy (every request's logger, with its id) fits a logger's existential inline: three
    /// words, no box allocated for it.
    @Test func theHandlerFitsALoggersExistentialInline() {
        #expect(MemoryLayout<LineLogHandler>.size <= 3 * MemoryLayout<Int>.size)
    }
}
