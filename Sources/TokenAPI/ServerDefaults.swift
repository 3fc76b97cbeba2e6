/// Every default of the HTTP server, in one place. `openapi/build_openapi.py` parses this file,
/// so keep each value a literal (`.seconds(N)`, `.milliseconds(N)` or a number).
public enum ServerDefaults {
    /// `Retry-After` on every 503, in seconds.
    public static let retryAfterSeconds = 1
    /// Largest request body in bytes; larger is 413.
    public static let maxBodySize = 65536
    /// Idle keep-alive HTTP connections close after this.
    public static let idleTimeout: Duration = .seconds(60)
    /// Where the HTTP server listens.
    public static let host = "127.0.0.1"
    public static let port = 8080
    /// How long an audit entry is kept (30 days).
    public static let auditRetention: Duration = .seconds(2592000)
    /// The most audit entries kept, about: older ones are trimmed a node (~100 entries) at a time.
    public static let auditMaxEntries = 100000
}
