import Metrics
import RedisNIO

/// What the pool counts, through swift-metrics (the app bootstraps a Prometheus backend; without
/// one these are no-ops). Created once, so the hot paths only increment.
struct PoolMetrics: Sendable {
    let assignments = Counter(label: "tokenpool_assignments_total")
    let unblocks = Counter(label: "tokenpool_unblocks_total")
    let keepAlives = Counter(label: "tokenpool_keep_alives_total")
    let generated = Counter(label: "tokenpool_tokens_generated_total")
    let deleted = Counter(label: "tokenpool_tokens_deleted_total")
    let leasesLapsed = Counter(label: "tokenpool_leases_lapsed_total")
    let tokensExpired = Counter(label: "tokenpool_tokens_expired_total")
    let reaperBatches = Counter(label: "tokenpool_reaper_batches_total")
    /// Time waiting assigns spent in the queue, one timer per way a wait ends.
    let waitDurations = Dictionary(uniqueKeysWithValues: WaitOutcome.allCases.map {
        ($0, Timer(label: "tokenpool_wait_duration_seconds", dimensions: [("outcome", $0.rawValue)]))
    })
}

