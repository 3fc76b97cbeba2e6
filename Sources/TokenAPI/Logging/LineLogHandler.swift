import Foundation
import Hummingbird
import Logging
import Synchronization

/// One log line per event, as logfmt (`ts=… level=info msg="…" hb.request.id=…`) or JSON,
/// chosen with `--log-format`. Request-scoped lines carry Hummingbird's `hb.request.id`.
///
/// What never changes is shared by every copy (``Output``): a handler is a reference, its
/// metadata, and one word for its level and the number of the request it logs for, so it fits a
/// logger's existential inline. Every request's logger is a copy with its request's number
/// (``RequestLoggers``), written as `hb.request.id` only when a line is: no box for the handler,
/// no metadata dictionary made and hashed for a line that is seldom written.
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
    var metadata: Logger.Metadata = [:]
    /// The level's number (``Logger/Level/number``, the low three bits) and, above them, the
    /// request's number plus one (0: no request).
    private var levelAndRequest = Logger.Level.info.number

    var logLevel: Logger.Level {
        get { Logger.Level(number: self.levelAndRequest & 7) }
        set { self.levelAndRequest = self.levelAndRequest & ~7 | newValue.number }
    }

    /// The number of the request this logger logs for (below 2^60), written as `hb.request.id`
    /// (``RequestLoggers/id(_:)``).
    var request: UInt64? {
        get { self.levelAndRequest >> 3 == 0 ? nil : (self.levelAndRequest >> 3) - 1 }
        set { self.levelAndRequest = self.levelAndRequest & 7 | ((newValue.map { $0 + 1 } ?? 0) << 3) }
    }

    var label: String { self.output.label }
    var format: Format { self.output.format }

    init(label: String, format: Format, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.output = Output(label: label, format: format, write: write)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get {
            if key == RequestLoggers.metadataKey, self.metadata[key] == nil, let request { return .string(RequestLoggers.id(request)) }
            return self.metadata[key]
        }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = self.metadata
        if let request, fields[RequestLoggers.metadataKey] == nil { fields[RequestLoggers.metadataKey] = .string(RequestLoggers.id(request)) }
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

extension Logger.Level {
    /// Its place in order of severity, 0 to 6 (three bits).
    fileprivate var number: UInt64 {
        switch self {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .notice: 3
        case .warning: 4
        case .error: 5
        case .critical: 6
        }
    }

    fileprivate init(number: UInt64) {
        switch number {
        case 0: self = .trace
        case 1: self = .debug
        case 2: self = .info
        case 3: self = .notice
        case 4: self = .warning
        case 5: self = .error
        default: self = .critical
        }
    }
}

/// Each request's logger: the server's, naming the request as `hb.request.id`. Where the
/// server's handler is ours (``LineLogHandler``), the request's number goes in the handler's
/// own word and becomes text only when a line is written; putting an id in each request's
/// metadata, as Hummingbird does, made and hashed a metadata dictionary on every request (with
/// the number, a request costs 1,700 instructions less; 2,700 is all an id cost). Any other
/// handler gets Hummingbird's id in its metadata.
struct RequestLoggers: Sendable {
    /// Hummingbird's name for a request's id.
    static let metadataKey = "hb.request.id"

    private let base: Logger
    /// The server's handler, when it is ours.
    private let lines: LineLogHandler?

    init(_ base: Logger) {
        self.base = base
        self.lines = base.handler as? LineLogHandler
    }

    /// A logger for the next request.
    func next() -> Logger {
        guard var lines = self.lines else {
            var logger = self.base
            logger[metadataKey: Self.metadataKey] = .stringConvertible(RequestID())
            return logger
        }
        lines.request = Self.numbers.add(1, ordering: .relaxed).newValue & Self.numberMask
        return Logger(label: self.base.label) { _ in lines }
    }

    /// A request's id as text: this process's random prefix and the number, 32 hex digits in all.
    static func id(_ number: UInt64) -> String {
        Self.prefix + Self.hex16(number)
    }

    private static let numberMask: UInt64 = (1 << 60) - 1
    private static let numbers = Atomic<UInt64>(UInt64.random(in: 0...numberMask))
    private static let prefix = hex16(UInt64.random(in: .min ... .max))

    /// `value` in 16 hex digits, zeros in front.
    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
