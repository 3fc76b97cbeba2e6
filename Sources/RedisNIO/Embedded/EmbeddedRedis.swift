import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Subprocess
import SystemPackage

/// A `redis-server` child process on a unix socket in a data folder, with append-only
/// persistence, for running on a laptop without a Redis of one's own.
///
/// ``start()`` launches it (swift-subprocess: every signal unblocked and at its default, in a
/// process group of its own so a Ctrl-C reaches TokenPool first) and returns once its socket is
/// there; ``run()`` watches it and stops it (SIGTERM, so it syncs its append-only file; SIGKILL
/// after a minute) on graceful shutdown. A server left behind by a killed earlier run (its pid
/// file) is stopped first.
public final class EmbeddedRedis: Service, Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let dataDirectory: URL
    public let serverPath: String
    private let logger: Logger
    /// The running server: its pid and the task that runs it until it exits or is cancelled.
    private let child = NIOLockedValueBox<Child?>(nil)

    private struct Child: Sendable {
        let pid: pid_t
        /// The server's exit status (128 + the signal for one killed by a signal, as a shell
        /// says), or the error that kept it from starting.
        let exit: Task<Int32, any Error>
        /// Set once the server has exited and been reaped (its pid may be another's after that).
        let exited: NIOLockedValueBox<Bool>
    }

    /// How long a server asked to stop (SIGTERM) may take to sync its file before SIGKILL.
    private static let stopGrace: Duration = .seconds(60)

    public var socketPath: String { self.dataDirectory.appending(path: "redis.sock").path }
    public var url: String { "unix://\(self.socketPath)" }
    private var pidFile: URL { self.dataDirectory.appending(path: "redis.pid") }

    /// - Throws: ``Failure`` naming how to install Redis when `redis-server` is not on the PATH.
    public init(dataDirectory: String, logger: Logger) throws {
        guard let serverPath = Self.findOnPath("redis-server") else {
            throw Failure(
                description: """
                    redis-server not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-server; \
                    macOS: brew install redis), or point TokenPool at a Redis with --redis-url / REDIS_URL.
                    """
            )
        }
        self.serverPath = serverPath
        self.dataDirectory = URL(fileURLWithPath: dataDirectory, isDirectory: true).standardizedFileURL
        self.logger = logger
    }

    /// Launches `redis-server` and waits (up to 10 s) until its socket is there.
    public func start() async throws {
        try FileManager.default.createDirectory(at: self.dataDirectory, withIntermediateDirectories: true)
        await self.stopLeftover()
        try? FileManager.default.removeItem(atPath: self.socketPath)
        let arguments = [
            "--port", "0",
            "--unixsocket", self.socketPath,
            "--unixsocketperm", "700",
            "--dir", self.dataDirectory.path,
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--pidfile", self.pidFile.path,
            "--logfile", "redis.log",
        ]
        let child = try await Self.launch(FilePath(self.serverPath), arguments: arguments)
        self.child.withLockedValue { $0 = child }
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: self.socketPath) {
                self.logger.info(
                    "Started embedded redis-server",
                    metadata: ["tokenpool.redis.socket": "\(self.socketPath)", "tokenpool.redis.pid": "\(child.pid)"]
                )
                return
            }
            if Self.hasExited(child) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(child.pid, SIGKILL)
        throw Failure(description: "embedded redis-server did not start; see \(self.dataDirectory.path)/redis.log")
    }

    /// Starts `executable` in a task that runs it until it exits, or, cancelled, stops it
    /// (SIGTERM, then SIGKILL after ``stopGrace``); returns once it runs, with its pid.
    private static func launch(_ executable: FilePath, arguments: [String]) async throws -> Child {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: Self.stopGrace)]
        let (started, pid) = AsyncStream.makeStream(of: pid_t.self)
        let exited = NIOLockedValueBox(false)
        let exit = Task {
            // Launch errors end `started` without a pid; they are thrown by `exit.value`.
            defer {
                exited.withLockedValue { $0 = true }
                pid.finish()
            }
            // Returns once the server has exited (Redis logs to its file: no output to read).
            let result = try await Subprocess.run(
                .path(executable),
                arguments: Arguments(arguments),
                platformOptions: options,
                input: .none,
                output: .discarded,
                error: .discarded
            ) { execution in
                pid.yield(execution.processIdentifier.value)
            }
            switch result.terminationStatus {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }
        for await pid in started {
            return Child(pid: pid, exit: exit, exited: exited)
        }
        _ = try await exit.value
        throw Failure(description: "embedded redis-server did not start")
    }

    /// Whether the server has exited and been reaped, without waiting.
    private static func hasExited(_ child: Child) -> Bool {
        child.exited.withLockedValue { $0 }
    }

    /// Watches the server until graceful shutdown or cancellation, then stops it (SIGTERM:
    /// it syncs its append-only file) and waits until it has gone.
    /// - Throws: ``Failure`` when the server exits by itself.
    public func run() async throws {
        guard let child = self.child.withLockedValue({ $0 }) else {
            throw Failure(description: "EmbeddedRedis.run() before start()")
        }
        // Either the server exits by itself (its task ends), or graceful shutdown cancels the task,
        // which stops the server (SIGTERM) and waits until it has synced its file and gone.
        let status: Int32
        do {
            status = try await withTaskCancellationOrGracefulShutdownHandler {
                try await child.exit.value
            } onCancelOrGracefulShutdown: {
                child.exit.cancel()
            }
        } catch {
            throw Failure(description: "embedded redis-server: \(error)")
        }
        if !child.exit.isCancelled {
            throw Failure(description: "embedded redis-server exited with status \(status); see \(self.dataDirectory.path)/redis.log")
        }
        self.logger.info("Stopped embedded redis-server", metadata: ["tokenpool.redis.status": "\(status)"])
    }

    /// Kills the server this instance started, if it still runs (SIGKILL: no sync). For tests,
    /// which must not leave a server behind whatever happens: it would hold their output open.
    package func killServer() {
        guard let child = self.child.withLockedValue({ $0 }), !Self.hasExited(child) else { return }
        kill(child.pid, SIGKILL)
    }

    /// The exit status of the server this instance started, once it has exited (waits for that).
    package func childStatus() async -> Int32? {
        try? await self.child.withLockedValue { $0 }?.exit.value
    }

    /// A redis-server whose parent was killed keeps running; two on one append-only file must not.
    /// It is ours if the pid file names it and the server on our socket says that is its pid
    /// (`INFO server`): no `/proc`, so this works wherever Redis does.
    private func stopLeftover() async {
        guard let text = try? String(contentsOf: self.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            kill(pid, 0) == 0,
            await Self.serverPID(at: self.socketPath) == pid
        else { return }
        self.logger.warning("Stopping a redis-server left behind by an earlier run", metadata: ["tokenpool.redis.pid": "\(pid)"])
        kill(pid, SIGTERM)
        // Gone once it no longer answers on the socket (it closes it last, after syncing its file).
        for _ in 0..<250 where kill(pid, 0) == 0 {
            if await Self.serverPID(at: self.socketPath) != pid { break }
            await sleepIgnoringCancellation(.milliseconds(20))
        }
    }

    /// `process_id` from `INFO server` of the Redis on `socketPath`, or `nil` if none answers.
    static func serverPID(at socketPath: String) async -> Int32? {
        var configuration = RedisConfiguration(address: .unixSocket(path: socketPath))
        configuration.commandTimeout = .seconds(1)
        guard let connection = try? await RedisConnection.connect(configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: Logger(label: "tokenpool.embedded")) else {
            return nil
        }
        defer { connection.close() }
        guard let info = try? await connection.send(["INFO", "server"], deadline: .now() + .seconds(1)).string else { return nil }
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("process_id:") }
        return line.flatMap { Int32($0.dropFirst("process_id:".count)) }
    }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" } + ["/usr/sbin/\(name)", "/usr/local/sbin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// `Task.sleep` returns at once in a cancelled task; a detached task's sleep does not.
package func sleepIgnoringCancellation(_ duration: Duration) async {
    await Task.detached { try? await Task.sleep(for: duration) }.value
}
