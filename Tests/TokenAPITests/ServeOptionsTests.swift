import ArgumentParser
import Foundation
import Logging
import Testing

@testable import TokenAPI

/// `tokenpool serve`'s options come from one table: flags, environment names, `--help` and the
/// configuration table in docs/configuration.md.
struct ServeOptionsTests {
    @Test func theDocumentedConfigurationTableIsTheOptionTable() throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/configuration.md"), encoding: .utf8)
        let begin = "<!-- serve-options: made from ServeOption.all; a test fails when they differ -->\n"
        let section = try #require(readme.components(separatedBy: begin).dropFirst().first?.components(separatedBy: "\n\n").first)
        #expect(section == ServeOption.markdownTable, "docs/configuration.md's table should read:\n\(ServeOption.markdownTable)")
    }

    @Test func eachOptionHasItsOwnFlagAndEnvironmentName() {
        #expect(Set(ServeOption.all.map(\.name)).count == ServeOption.all.count)
        #expect(Set(ServeOption.all.map(\.environment)).count == ServeOption.all.count)
        let help = ServeCommand.helpMessage()
        for option in ServeOption.all {
            #expect(help.contains("--\(option.name)") && help.contains(option.environment), "--help does not list --\(option.name)")
        }
    }

    @Test func flagsTakeEitherSpellingAndRefuseWhatTheyDoNotKnow() throws {
        #expect(try ServeCommand.parse(["--port=9001", "--redis-tls-insecure"]).resolve([:]).port == 9001)
        #expect(try ServeCommand.parse(["--redis-tls-insecure"]).resolve([:]).redisTLSInsecure)
        #expect(try ServeCommand.parse([]).resolve(["TOKENPOOL_REDIS_TLS_INSECURE": "1"]).redisTLSInsecure)
        let keys = try ServeCommand.parse(["--admin-key", "a", "--admin-key", "b"]).resolve(["TOKENPOOL_ADMIN_KEYS": "c"])
        #expect(keys.adminKeys == ["a", "b"])
        #expect(try ServeCommand.parse([]).resolve(["TOKENPOOL_ADMIN_KEYS": "c, d,"]).adminKeys == ["c", "d"])
        #expect(try ServeCommand.parse(["--log-level", "debug"]).resolve([:]).logLevel == .debug)
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--no-such-option", "1"]).resolve([:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--port"]).resolve([:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--port", "1", "--port", "2"]).resolve([:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--log-format", "xml"]).resolve([:]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse([]).resolve(["TOKENPOOL_REDIS_CONNECTIONS": "65"]) }
    }
}
