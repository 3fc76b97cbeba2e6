import Foundation
import Logging

/// One log line per event, as logfmt (`ts=… level=info msg="…" hb.request.id=…`) or JSON,
/// chosen with `--log-format`. Request-scoped lines carry Hummingbird's `hb.request.id`.
struct LineLogHandler: LogHandler {
    enum Format: String, Sendable, CaseIterable {
        case logfmt
        case json
    }

    let label: String
    let format: Format
    let write: @Sendable (String) -> Void
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: Format, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.label = label
        self.format = format
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = self.metadata
        if let provided = self.metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var pairs: [(String, String)] = [("ts", time), ("level", event.level.rawValue), ("msg", event.message.description)]
        pairs += fields.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        pairs.append(("source", event.source))
        switch self.format {
        case .logfmt:
            self.write(pairs.map { "\($0.0)=\(Self.logfmtValue($0.1))" }.joined(separator: " "))
        case .json:
            self.write("{" + pairs.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}")
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
