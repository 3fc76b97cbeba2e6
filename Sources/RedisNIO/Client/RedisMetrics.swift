import Metrics

/// Redis commands' latency and failures.
struct RedisMetrics: Sendable {
    let latency = Timer(label: "tokenpool_redis_command_duration_seconds")
    let clientErrors = Counter(label: "tokenpool_redis_errors_total", dimensions: [("kind", "client")])
    let serverErrors = Counter(label: "tokenpool_redis_errors_total", dimensions: [("kind", "server")])
}
