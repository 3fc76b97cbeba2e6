import Hummingbird
import Metrics
import NIOCore
import Prometheus
import RedisTokenPool

/// The process's one Prometheus registry, bootstrapped into swift-metrics on first use
/// (swift-metrics can be bootstrapped once per process).
enum PrometheusMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// `GET /metrics`: Prometheus text format. The pool gauges are read at scrape time, O(1) per pool.
struct MetricsController<Context: RequestContext>: Sendable {
    let pool: TokenPool
    let registry: PrometheusCollectorRegistry

    func scrape(_ request: Request, _ context: Context) async throws -> Response {
        for name in try await self.pool.knownPools() {
            let stats = try await self.pool.stats(of: name)
            for (state, value) in [("total", stats.total), ("free", stats.free), ("assigned", stats.assigned)] {
                Gauge(label: "tokenpool_pool_tokens", dimensions: [("pool", name.rawValue), ("state", state)]).record(value)
            }
            Gauge(label: "tokenpool_pool_waiting", dimensions: [("pool", name.rawValue)]).record(stats.waiting)
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8192)
        self.registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
}
