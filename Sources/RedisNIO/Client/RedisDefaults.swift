/// Every default of the Redis client, in one place. `openapi/build_openapi.py` may parse this
/// file, so keep each value a literal (`.seconds(N)`, `.milliseconds(N)` or a number).
public enum RedisDefaults {
    /// Connections to Redis, commands pipelined on each.
    public static let connections = 4
    /// One deadline per Redis command: the wait for a connection and for the reply.
    public static let commandTimeout: Duration = .seconds(1)
    /// How long opening a connection to Redis may take.
    public static let connectTimeout: Duration = .seconds(1)
    /// First reconnect delay; it doubles up to ``reconnectBackoffMax``.
    public static let reconnectBackoffMin: Duration = .milliseconds(50)
    public static let reconnectBackoffMax: Duration = .seconds(2)
    /// Replicas that must have a change before it is acknowledged (`WAIT`); 0: the master alone.
    public static let waitReplicas = 0
}

extension Duration {
    /// Whole milliseconds, rounded down (at least 1 for any positive duration).
    package var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return self > .zero ? max(1, millis) : millis
    }

    /// Seconds as a decimal number, e.g. `1.5`, for help texts and JSON.
    package var seconds: Double {
        Double(self.milliseconds) / 1000
    }

    /// Seconds as short text: `60`, `0.25`.
    package var secondsText: String {
        self.milliseconds % 1000 == 0 ? String(self.milliseconds / 1000) : String(self.seconds)
    }
}
