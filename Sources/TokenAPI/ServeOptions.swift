import Foundation
import Logging
import RedisNIO
import RedisTokenPool

/// One option of `tokenpool serve`: its flag, its environment variable, what it means, and
/// where its value goes in ``AppConfiguration``. ``all`` is the one table of them: parsing,
/// `--help` and the configuration table of docs/configuration.md (kept equal by a test) all come from it, and
/// each default is read from a fresh ``AppConfiguration`` (so from `Defaults` where it has one).
struct ServeOption: Sendable {
    /// The flag without its `--`.
    let name: String
    let environment: String
    /// What `--help` shows after the flag (`<seconds>`); nil for a flag that takes no value.
    let valueName: String?
    /// Markdown, as docs/configuration.md shows it; `--help` prints it as it is.
    let help: String
    /// The default's text; nil where there is none to show, with ``defaultNote`` saying why.
    let defaultValue: @Sendable (AppConfiguration) -> String?
    let defaultNote: String
    /// A flag may be given again, each adding a value; the environment variable's value is comma-separated.
    let repeats: Bool
    /// Sets the value; throws a message (without the option's name) for a value it cannot take.
    let apply: @Sendable (inout AppConfiguration, String) throws(OptionValueError) -> Void

    /// The option's default in a row of docs/configuration.md's table: `` `60` `` or the note, in italics.
    var readmeDefault: String {
        self.defaultValue(AppConfiguration()).map { "`\($0)`" } ?? self.defaultNote
    }
}

/// A value an option cannot take: what it should be.
struct OptionValueError: Error {
    let expected: String
}

extension ServeOption {
    /// Every option of `tokenpool serve`, in the order `--help` and docs/configuration.md list them.
    static let all: [ServeOption] = [
        .text("host", "HOST", \.host, "address to listen on (`0.0.0.0` for every interface)"),
        .integer("port", "PORT", \.port, 0...65535, "port to listen on"),
        .optionalText(
            "redis-url", "REDIS_URL", \.redisURL, note: "*(embedded)*",
            "`redis://[user:password@]host[:port][/db]`, `...?db=N`, `unix:///path/redis.sock`, or "
                + "`redis-sentinel://[user:password@]h1:26379[,h2:26379...]/MASTERNAME[?db=N]`, or `redis-cluster://[user:password@]h1:7000[,h2:7001...]` "
                + "(`rediss://`, `rediss-sentinel://`, `rediss-cluster://`: TLS)"
        ),
        .optionalText("redis-sentinel-password", "TOKENPOOL_REDIS_SENTINEL_PASSWORD", \.redisSentinelPassword, note: "*(none)*", "the sentinels' own password"),
        .integer(
            "redis-wait-replicas", "TOKENPOOL_REDIS_WAIT_REPLICAS", \.redisWaitReplicas, 0...Int.max,
            "acknowledge a change only once this many replicas have it (`WAIT`); fewer in time: 503 `not-replicated`"
        ),
        .optionalText("redis-tls-ca", "TOKENPOOL_REDIS_TLS_CA", \.redisTLSCAFile, note: "*(system roots)*", "PEM file of CAs to trust for `rediss://`"),
        .flag(
            "redis-tls-insecure", "TOKENPOOL_REDIS_TLS_INSECURE", \.redisTLSInsecure,
            "accept any certificate on `rediss://` (Heroku Redis's are self-signed); logged loudly"
        ),
        .text("data-dir", "TOKENPOOL_DATA_DIR", \.dataDirectory, "folder of the embedded Redis (socket, append-only file, log)"),
        .seconds("lease-ttl", "TOKENPOOL_LEASE_TTL", \.leaseTTL, "seconds an assignment lasts without keep-alive (fractions allowed)"),
        .seconds("keep-alive-ttl", "TOKENPOOL_KEEP_ALIVE_TTL", \.keepAliveTTL, "seconds a token lives without keep-alive"),
        .integer(
            "redis-connections", "TOKENPOOL_REDIS_CONNECTIONS", \.redisConnections, 1...64,
            "pipelined connections to Redis, spread over the event loops: a request uses one on its own"
        ),
        .seconds(
            "redis-timeout", "TOKENPOOL_REDIS_TIMEOUT", \.redisTimeout,
            "seconds a Redis command may take, waiting for a connection included, before the request gets 503"
        ),
        .seconds("reap-interval", "TOKENPOOL_REAP_INTERVAL", \.reapInterval, "seconds between reaper passes"),
        .seconds(
            "max-wait", "TOKENPOOL_MAX_WAIT", \.maxWait,
            "longest wait a waiting assign may ask for (`?wait=`); more is 400. Keep proxies' timeouts above it"
        ),
        .list("admin-key", "TOKENPOOL_ADMIN_KEYS", \.adminKeys, "admin key; repeat the flag or comma-separate to have several"),
        .list("client-key", "TOKENPOOL_CLIENT_KEYS", \.clientKeys, "client key (assign, unblock, keep-alive, inspect, list); likewise"),
        .optionalText(
            "keys-file", "TOKENPOOL_KEYS_FILE", \.keysFile, note: "*(none)*",
            "JSON file of named keys (by SHA-256) with roles, pools and rates; read again on change (within 2 s) and on SIGHUP"
        ),
        .seconds("audit-retention", "TOKENPOOL_AUDIT_RETENTION", \.auditRetention, "seconds an audit entry is kept (`GET /audit`)"),
        .integer(
            "audit-max-entries", "TOKENPOOL_AUDIT_MAX_ENTRIES", \.auditMaxEntries, 1000...100_000_000,
            "the most audit entries kept, about (older ones trimmed about 100 at a time)"
        ),
        .optionalText(
            "tls-cert", "TOKENPOOL_TLS_CERT", \.tlsCertificate, note: "*(plain HTTP)*",
            "PEM certificate chain: serve HTTPS, HTTP/2 by ALPN beside HTTP/1.1; read again on SIGHUP"
        ),
        .optionalText("tls-key", "TOKENPOOL_TLS_KEY", \.tlsKey, note: "*(plain HTTP)*", "PEM private key of `--tls-cert`"),
        .integer("max-body-size", "TOKENPOOL_MAX_BODY_SIZE", \.maxBodySize, 1...Int.max, "largest request body in bytes (413 above)"),
        .seconds("idle-timeout", "TOKENPOOL_IDLE_TIMEOUT", \.idleTimeout, "seconds before an idle keep-alive connection is closed"),
        .optionalInteger(
            "threads", "TOKENPOOL_THREADS", \.threads, 1...256, note: "one per core",
            "event-loop threads for HTTP and Redis connections (1–256); measured in docs/benchmarks-threads.md"
        ),
        .choice("log-level", "LOG_LEVEL", \.logLevel, "`trace` … `critical`; `debug` logs every request with its `hb.request.id`"),
        .choice("log-format", "TOKENPOOL_LOG_FORMAT", \.logFormat, "`logfmt` or `json`, one line per event; request lines carry `hb.request.id`"),
        .optionalText(
            "docs-assets", "TOKENPOOL_DOCS_ASSETS", \.docsAssets, note: "*(CDN)*",
            "folder with Swagger UI's and ReDoc's files: `/docs` and `/redoc` offline"
        ),
    ]

    /// docs/configuration.md's table, as the test expects it.
    static var markdownTable: String {
        var lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
        for option in Self.all {
            let environment = option.valueName == nil ? "`\(option.environment)=1`" : "`\(option.environment)`"
            lines.append("| `--\(option.name)` | \(environment) | \(option.readmeDefault) | \(option.help) |")
        }
        return lines.joined(separator: "\n")
    }

    /// The options as `--help` lists them.
    static var helpText: String {
        let defaults = AppConfiguration()
        return Self.all.map { option in
            let flag = "--\(option.name)" + (option.valueName.map { " <\($0)>" } ?? "")
            let shown = option.defaultValue(defaults).map { "Default \($0)." } ?? "Default: \(option.defaultNote.trimmingCharacters(in: ["*", "(", ")"]))."
            return "\(flag) (\(option.environment)): \(option.help). \(shown)"
        }.joined(separator: "\n\n")
    }
}

// MARK: - Kinds of option

extension ServeOption {
    fileprivate typealias Path<Value> = any WritableKeyPath<AppConfiguration, Value> & Sendable

    fileprivate static func make<Value>(
        _ name: String, _ environment: String, _ path: Path<Value>, valueName: String?, note: String = "", repeats: Bool = false, _ help: String,
        show: @escaping @Sendable (Value) -> String?, parse: @escaping @Sendable (Value, String) throws(OptionValueError) -> Value
    ) -> ServeOption {
        ServeOption(
            name: name, environment: environment, valueName: valueName, help: help, defaultValue: { show($0[keyPath: path]) }, defaultNote: note,
            repeats: repeats, apply: { configuration, text throws(OptionValueError) in
                configuration[keyPath: path] = try parse(configuration[keyPath: path], text)
            }
        )
    }

    fileprivate static func text(_ name: String, _ environment: String, _ path: Path<String>, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: "text", help, show: { $0 }, parse: { _, text in text })
    }

    fileprivate static func optionalText(_ name: String, _ environment: String, _ path: Path<String?>, note: String, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: "text", note: note, help, show: { $0 }, parse: { _, text in text })
    }

    fileprivate static func integer(_ name: String, _ environment: String, _ path: Path<Int>, _ range: ClosedRange<Int>, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: "n", help, show: { String($0) }, parse: { _, text throws(OptionValueError) in try Self.integer(text, range) })
    }

    fileprivate static func optionalInteger(
        _ name: String, _ environment: String, _ path: Path<Int?>, _ range: ClosedRange<Int>, note: String, _ help: String
    ) -> ServeOption {
        make(name, environment, path, valueName: "n", note: note, help, show: { $0.map { String($0) } }) { _, text throws(OptionValueError) in
            try Self.integer(text, range)
        }
    }

    /// Seconds, fractions allowed, more than 0.
    fileprivate static func seconds(_ name: String, _ environment: String, _ path: Path<Duration>, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: "seconds", help, show: { $0.secondsText }) { _, text throws(OptionValueError) in
            guard let number = Double(text), number > 0, number.isFinite else { throw OptionValueError(expected: "a positive number of seconds") }
            return .milliseconds(Int64((number * 1000).rounded()))
        }
    }

    /// On when given as a flag, or when the environment variable is `1`, `true` or `yes`.
    fileprivate static func flag(_ name: String, _ environment: String, _ path: Path<Bool>, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: nil, help, show: { $0 ? "on" : "off" }) { _, text in
            ["1", "true", "yes", "on"].contains(text.lowercased())
        }
    }

    /// Repeated flags, or one comma-separated environment variable; blanks dropped.
    fileprivate static func list(_ name: String, _ environment: String, _ path: Path<[String]>, _ help: String) -> ServeOption {
        make(name, environment, path, valueName: "key", note: "*(none)*", repeats: true, help, show: { _ in nil }) { listed, text in
            listed + text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// One of a type's raw values.
    fileprivate static func choice<Value: RawRepresentable<String> & CaseIterable>(
        _ name: String, _ environment: String, _ path: Path<Value>, _ help: String
    ) -> ServeOption {
        make(name, environment, path, valueName: "name", help, show: { $0.rawValue }) { _, text throws(OptionValueError) in
            guard let value = Value(rawValue: text) else {
                throw OptionValueError(expected: "one of " + Value.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return value
        }
    }

    private static func integer(_ text: String, _ range: ClosedRange<Int>) throws(OptionValueError) -> Int {
        guard let number = Int(text), range.contains(number) else {
            throw OptionValueError(expected: range.upperBound == .max ? "a whole number from \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
