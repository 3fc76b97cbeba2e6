import Logging
import RedisNIO
import ServiceLifecycle

/// Reclaims what has lapsed, in bounded batches, every `interval`.
///
/// Operations already treat a lapsed lease or a dead token as such the instant its deadline
/// passes; the reaper only returns lapsed leases to the free set, frees memory and keeps
/// `/stats` close to the truth. Each pass does at most `maxTimePerPass` of batches per pool
/// (like Kea's max-reclaim-time); what is left waits for the next pass. Every replica runs
/// one: the scripts are atomic, so they only share the work.
public struct Reaper: Service {
    public let pool: TokenPool
    public let interval: Duration
    public let maxTimePerPass: Duration
    private let logger: Logger

    public init(pool: TokenPool, interval: Duration = Defaults.reapInterval, maxTimePerPass: Duration = Defaults.reapTimePerPass, logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.maxTimePerPass = maxTimePerPass
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var pause = self.interval
            while !Task.isCancelled {
                try? await Task.sleep(for: pause)
                if Task.isCancelled { break }
                do {
                    // A pass cut short by its time budget goes on after a breath, not after a whole interval.
                    pause = try await self.reapAll().morePending ? .milliseconds(10) : self.interval
                } catch {
                    pause = self.interval
                    self.logger.debug("Reaper pass failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// One pass over every known pool. Returns what it reclaimed, and whether a pool had more
    /// than the pass's time budget allowed.
    @discardableResult
    public func reapAll() async throws -> (leasesEnded: Int, tokensExpired: Int, morePending: Bool) {
        var total = (leasesEnded: 0, tokensExpired: 0, morePending: false)
        for name in try await self.pool.knownPools() {
            let deadline = ContinuousClock.now + self.maxTimePerPass
            let batch = self.pool.settings.reapBatch
            var batches = 0
            while true {
                let reaped = try await self.pool.reap(name, batch: batch)
                batches += 1
                total.leasesEnded += reaped.leasesEnded
                total.tokensExpired += reaped.tokensExpired
                if reaped.leasesEnded < batch && reaped.tokensExpired < batch { break }
                if ContinuousClock.now >= deadline {
                    total.morePending = true
                    break
                }
            }
            if batches > 1 {
                self.logger.debug(
                    "Reaped",
                    metadata: ["tokenpool.pool": "\(name)", "tokenpool.reaper.batches": "\(batches)"]
                )
            }
        }
        return total
    }
}
