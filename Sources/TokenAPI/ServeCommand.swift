import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import RedisTokenPool

/// `tokenpool serve`: every option (``ServeOption/all``) also reads an environment variable; a flag wins.
public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the HTTP API.",
        discussion: "Options (each also read from the environment variable named; a flag wins):\n" + ServeOption.helpText
    )

    public init() {}

    /// `--name value`, `--name=value` or `--flag`, read by the option table in ``resolve(_:)``.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var options: [String] = []

    /// Refuses bad options before anything starts, with serve's own usage.
    public func validate() throws {
        _ = try self.resolve(ProcessInfo.processInfo.environment)
    }

    public func run() async throws {
        let configuration = try self.resolve(ProcessInfo.processInfo.environment)
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format) }
        // Before anything makes the shared event-loop group, which the server and the Redis client use.
        if let threads = configuration.threads { NIOSingletons.groupLoopCountSuggestion = threads }
        let app = try await buildApplication(configuration)
        try await app.runService()
    }

    /// The configuration: each option's flags, else its environment variable, else its default.
    func resolve(_ environment: [String: String]) throws -> AppConfiguration {
        let flags = try self.flagValues()
        var configuration = AppConfiguration()
        for option in ServeOption.all {
            let (source, values): (String, [String])
            if let given = flags[option.name] {
                (source, values) = ("--\(option.name)", given)
            } else if let text = environment[option.environment], !text.isEmpty {
                (source, values) = (option.environment, [text])
            } else {
                continue
            }
            for value in values {
                do {
                    try option.apply(&configuration, value)
                } catch {
                    throw ValidationError("\(source) \(value.prefix(64)): expected \(error.expected)")
                }
            }
        }
        return configuration
    }

    /// The values given for each option, by its name; a flag that takes none has `on`.
    private func flagValues() throws -> [String: [String]] {
        let byName = Dictionary(uniqueKeysWithValues: ServeOption.all.map { ($0.name, $0) })
        var values: [String: [String]] = [:]
        var rest = self.options[...]
        while let word = rest.popFirst() {
            guard word.hasPrefix("--") else { throw ValidationError("unexpected argument '\(word.prefix(64))'") }
            let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let option = byName[String(parts[0])] else { throw ValidationError("unknown option '--\(parts[0].prefix(64))' (tokenpool serve --help lists them)") }
            let value: String
            if option.valueName == nil {
                guard parts.count == 1 else { throw ValidationError("--\(option.name) takes no value") }
                value = "on"
            } else if parts.count == 2 {
                value = String(parts[1])
            } else if let next = rest.popFirst() {
                value = next
            } else {
                throw ValidationError("--\(option.name) needs a value")
            }
            if values[option.name] != nil && !option.repeats { throw ValidationError("--\(option.name) is given twice") }
            values[option.name, default: []].append(value)
        }
        return values
    }
}
