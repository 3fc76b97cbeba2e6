/// Every default of TokenPool, in one place.
///
/// `TokenPoolSettings`, `RedisConfiguration`, the server's flags (their help text too) and the
/// OpenAPI description read these; `openapi/build_openapi.py` parses this file, so keep each
/// value a literal (`.seconds(N)`, `.milliseconds(N)` or a number).
public enum Defaults {
    /// An assignment lapses this long after assign or its last keep-alive.
    public static let leaseTTL: Duration = .seconds(60)
    /// A token is deleted this long after it was generated or last kept alive.
    public static let keepAliveTTL: Duration = .seconds(300)
    /// Lapsed leases an assign returns to the free set before it pops.
    public static let reclaimOnAssign = 16
    /// Dead tokens one assign script may pop and drop before it starts again.
    public static let maxPopsPerAssign = 32
    /// Tokens one reap script handles at most, of each kind. A script holds Redis for its whole
    /// batch: with 100,000 leases lapsing at once, batches of 1,000 put the other requests' p99 at
    /// ~18 ms, of 250 at ~8 ms (and all leases back sooner); 100 took longer to catch up
    /// (`Benchmarks/lapse_ab.py`).
    public static let reapBatch = 250
    /// Time between the reaper's passes.
    public static let reapInterval: Duration = .seconds(1)
    /// Work one reaper pass may do per pool before it yields.
    public static let reapTimePerPass: Duration = .milliseconds(250)
    /// The longest wait a waiting assign may ask for (`?wait=`); more is 400.
    public static let maxWait: Duration = .seconds(60)
    /// A waiter stays in the queue this long past its replica's last word (its replica renews
    /// it every ``waitRenewInterval``): so long a dead replica's waiters, and a token handed to
    /// one of them, hold up the queue at most.
    public static let waitPresence: Duration = .milliseconds(750)
    /// How often a replica renews its waiters and catches up on hand-overs it may have missed.
    public static let waitRenewInterval: Duration = .milliseconds(250)
    /// Connections to Redis, commands pipelined on each.
    public static let redisConnections = 4
    /// One deadline per Redis command: the wait for a connection and for the reply.
    public static let redisTimeout: Duration = .seconds(1)
    /// How long opening a connection to Redis may take.
    public static let connectTimeout: Duration = .seconds(1)
    /// First reconnect delay; it doubles up to ``reconnectBackoffMax``.
    public static let reconnectBackoffMin: Duration = .milliseconds(50)
    public static let reconnectBackoffMax: Duration = .seconds(2)
    /// Replicas that must have a change before it is acknowledged (`WAIT`); 0: the master alone.
    public static let redisWaitReplicas = 0
    /// `Retry-After` on every 503, in seconds.
    public static let retryAfterSeconds = 1
    /// Largest request body in bytes; larger is 413.
    public static let maxBodySize = 65536
    /// Idle keep-alive HTTP connections close after this.
    public static let idleTimeout: Duration = .seconds(60)
    /// Where the HTTP server listens.
    public static let host = "127.0.0.1"
    public static let port = 8080
    /// The first part of every Redis key.
    public static let keyPrefix = "tokenpool"
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
