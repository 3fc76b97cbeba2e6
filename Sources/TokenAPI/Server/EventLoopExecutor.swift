import NIOCore

/// Runs a task's jobs on one event loop: a request read by ``ParkingHandler`` is answered on its
/// connection's loop instead of the cooperative pool, so reading it, answering it and writing the
/// answer need no hop between threads.
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
