import Foundation
import Logging
import NIOConcurrencyHelpers
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
        self.stopLeftover()
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
        while child.exitStatus() == nil {
            // Not cancellable: once asked to stop, wait until Redis has synced and gone.
            usleep(20_000)
        }
        self.logger.info("Stopped embedded redis-server")
    }

    /// A redis-server whose parent was killed keeps running; two on one append-only file must not.
    private func stopLeftover() {
        guard let text = try? String(contentsOf: self.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
            name.hasPrefix("redis-server")
        else { return }
        self.logger.warning("Stopping a redis-server left behind by an earlier run", metadata: ["tokenpool.redis.pid": "\(pid)"])
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 {
            usleep(50_000)
        }
    }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" } + ["/usr/sbin/\(name)", "/usr/local/sbin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
