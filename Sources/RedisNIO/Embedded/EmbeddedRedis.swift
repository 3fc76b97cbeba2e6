import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A `redis-server` child process on a unix socket in a data folder, with append-only
/// persistence, for running on a laptop without a Redis of one's own.
///
/// ``start()`` launches it and returns once it accepts connections; ``run()`` watches it
/// and stops it (SIGTERM, so it syncs its append-only file) on graceful shutdown. A server
/// left behind by a killed earlier run (its pid file) is stopped first.
public final class EmbeddedRedis: Service, Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let dataDirectory: URL
    public let serverPath: String
    private let logger: Logger
    private let child = NIOLockedValueBox<ChildProcess?>(nil)

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
        let child = try ChildProcess.spawn(
            self.serverPath,
            arguments: [
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
        )
        self.child.withLockedValue { $0 = child }
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: self.socketPath) {
                self.logger.info(
                    "Started embedded redis-server",
                    metadata: ["tokenpool.redis.socket": "\(self.socketPath)", "tokenpool.redis.pid": "\(child.pid)"]
                )
                return
            }
            if child.exitStatus() != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        child.signal(SIGKILL)
        throw Failure(description: "embedded redis-server did not start; see \(self.dataDirectory.path)/redis.log")
    }

    /// Watches the server until graceful shutdown or cancellation, then stops it (SIGTERM:
    /// it syncs its append-only file) and waits until it has gone.
    /// - Throws: ``Failure`` when the server exits by itself.
    public func run() async throws {
        guard let child = self.child.withLockedValue({ $0 }) else {
            throw Failure(description: "EmbeddedRedis.run() before start()")
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled, child.exitStatus() == nil {
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        if let status = child.exitStatus() {
            throw Failure(description: "embedded redis-server exited with status \(status); see \(self.dataDirectory.path)/redis.log")
        }
        child.signal(SIGTERM)
        // Once asked to stop, wait until Redis has synced its append-only file and gone.
        let status = await child.waitForExit()
        self.logger.info("Stopped embedded redis-server", metadata: ["tokenpool.redis.status": "\(status)"])
    }

    /// Kills the server this instance started, if it still runs (SIGKILL: no sync). For tests,
    /// which must not leave a server behind whatever happens: it would hold their output open.
    package func killServer() {
        self.child.withLockedValue { $0 }?.signal(SIGKILL)
    }

    /// The exit status of the server this instance started, once it has exited (waits for that).
    package func childStatus() async -> Int32? {
        await self.child.withLockedValue { $0 }?.waitForExit()
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
