import NIOCore
import NIOPosix

/// Sleeps on a SwiftNIO timer, which runs on `CLOCK_MONOTONIC`.
///
/// `Task.sleep` on Linux measures by `CLOCK_BOOTTIME`, which tools that fake the wall clock
/// (libfaketime, as the tests use) fake as well; a timer on the monotonic clock sleeps exactly
/// `duration` whatever the machine's clocks say. Throws `CancellationError` when cancelled.
package func monotonicSleep(for duration: Duration) async throws {
    let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(duration)) {}
    try await withTaskCancellationHandler {
        do {
            try await scheduled.futureResult.get()
        } catch {
            throw CancellationError()
        }
    } onCancel: {
        scheduled.cancel()
    }
    try Task.checkCancellation()
}
