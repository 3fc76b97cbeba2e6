import Foundation
import Logging

/// One log line per event, as logfmt (`ts=… level=info msg="…" hb.request.id=…`) or JSON,
/// chosen with `--log-format`. Request-scoped lines carry Hummingbird's `hb.request.id`.
///
/// What never changes is shared by every copy (``Output``): a handler is a reference, its level
/// and its metadata, three words, so it fits a logger's existential inline. Every request's
/// logger is a copy with its `hb.request.id`, made without allocating a box for the handler.
/// (No metadata provider: nothing here sets one; the protocol's default keeps none.)
struct LineLogHandler: LogHandler {
    enum Format: String, Sendable, CaseIterable {
        case logfmt
        case json
    }

    /// The label, the format and where lines go.
    private final class Output: Sendable {
        let label: String
        let format: Format
        let write: @Sendable (String) -> Void

        init(label: String, format: Format, write: @escaping @Sendable (String) -> Void) {
            (self.label, self.format, self.write) = (label, format, write)
        }
    }

    private let output: Output
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    var label: String { self.output.label }
    var format: Format { self.output.format }

    init(label: String, format: Format, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.output = Output(label: label, format: format, write: write)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = self.metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var pairs: [(String, String)] = [("ts", time), ("level", event.level.rawValue), ("msg", event.message.description)]
        pairs += fields.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        pairs.append(("source", event.source))
        switch self.format {
        case .logfmt:
            self.output.write(pairs.map { "\($0.0)=\(Self.logfmtValue($0.1))" }.joined(separator: " "))
        case .json:
            self.output.write("{" + pairs.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}")
        }
    }

    static func logfmtValue(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" }
        return plain ? value : jsonString(value)
    }

    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
