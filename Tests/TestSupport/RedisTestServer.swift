import Foundation
import Logging
import RedisNIO

/// A real `redis-server` on a free loopback port and in a temporary folder of its own, started
/// for one test and killed after it, its folder removed.
///
/// `REDIS_SERVER` names the binary (default: `redis-server` on the PATH).
///
/// Nothing here blocks a thread: every test of the run shares the two threads of Swift's
/// cooperative pool on this machine, and Foundation's `waitUntilExit()` holds one for 50 ms at
/// least. A hundred tests ending together that way stalled the rest for a second, and a test
/// timing a 0.5 s wait measured 1.5 s.
public final class RedisTestServer: Sendable {
    public let port: Int
    private let process: Process
    private let directory: URL

    public var url: String { "redis://127.0.0.1:\(self.port)" }

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    /// Starts a server (retrying on another port if one was taken meanwhile) and waits until it accepts connections.
    public static func start(port: Int? = nil, portArgument: String = "--port", extraArguments: [String] = []) async throws -> RedisTestServer {
        var lastError: any Error = TestServerError("redis-server did not start")
        for _ in 0..<5 {
            let port = try port ?? freePort()
            // A folder of its own: a replica writes the data it syncs there, and a server started
            // in a folder with a dump.rdb would load it.
            let directory = FileManager.default.temporaryDirectory.appending(path: "tokenpool-redis-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.serverPath)
            // Redis writes its pid file only once it listens: a port that answers without it is
            // another test's server that took the port first (this one then failed to bind).
            let pidFile = directory.appending(path: "redis.pid").path
            process.arguments = [portArgument, "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                                 "--dir", directory.path, "--pidfile", pidFile] + extraArguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<100 {
                if FileManager.default.fileExists(atPath: pidFile), canConnect(port: port) {
                    return RedisTestServer(port: port, process: process, directory: directory)
                }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(process.processIdentifier, SIGKILL)
            await Self.untilExited(process)
            try? FileManager.default.removeItem(at: directory)
            lastError = TestServerError("redis-server did not start on port \(port)")
        }
        throw lastError
    }

    /// A server that speaks only TLS on its port, with a self-signed certificate for
    /// `localhost`/`127.0.0.1` made with `openssl` in `directory` (`cert.pem` is also the CA).
    public static func startTLS(in directory: URL) async throws -> RedisTestServer {
        let cert = directory.appending(path: "cert.pem").path
        let key = directory.appending(path: "key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        // An EC key: made in milliseconds, where RSA takes up to a second of a busy core.
        openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        await Self.untilExited(openssl)
        guard openssl.terminationStatus == 0 else { throw TestServerError("openssl could not make a certificate") }
        let port = try freePort()
        return try await Self.start(port: port, portArgument: "--tls-port", extraArguments: [
            "--port", "0", "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
        ])
    }

    /// Kills the server (SIGKILL: the test's Redis keeps nothing), removes its folder and
    /// returns at once; Foundation reaps it. For a test that needs it gone, ``stopAndWait()``.
    public func stop() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Kills the server and returns once it has exited: its port no longer answers.
    public func stopAndWait() async {
        self.stop()
        await Self.untilExited(self.process)
    }

    /// Until `process` has exited, looking every 5 ms without holding a thread.
    private static func untilExited(_ process: Process) async {
        while process.isRunning {
            await sleepIgnoringCancellation(.milliseconds(5))
        }
    }

    deinit {
        self.stop()
    }

    static var serverPath: String {
        if let path = ProcessInfo.processInfo.environment["REDIS_SERVER"] { return path }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/bin", "/usr/local/bin"]
        return directories.map { "\($0)/redis-server" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "redis-server"
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A logger that stays quiet unless `LOG_LEVEL` asks otherwise.
public func testLogger(_ label: String = "tokenpool.test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    return logger
}

/// Runs `body` with a fresh Redis and a running client of it; stops both after.
package func withRedis<T: Sendable>(
    configure: (inout RedisConfiguration) -> Void = { _ in },
    _ body: (RedisTestServer, RedisClient) async throws -> T
) async throws -> T {
    let server = try await RedisTestServer.start()
    defer { server.stop() }
    var configuration = try RedisConfiguration(url: server.url)
    configure(&configuration)
    let client = RedisClient(configuration: configuration, logger: testLogger())
    return try await withRunning(client) { try await body(server, client) }
}

/// Runs `body` while `client.run()` keeps its connections; cancels it after.
///
/// With `waitForConnection` (the default) it first waits, up to 10 s, until Redis answers a
/// PING, so a test's short command timeout measures Redis and not a machine busy connecting.
package func withRunning<T: Sendable>(_ client: RedisClient, waitForConnection: Bool = true, _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        defer { group.cancelAll() }
        if waitForConnection {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline, (try? await client.send("PING")) == nil {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return try await body()
    }
}

public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestServerError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestServerError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A TCP port that accepts connections (the kernel completes the handshake) and never answers:
/// a Redis that hangs.
public final class SilentListener: Sendable {
    private let fd: Int32

    public init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket() failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else {
            Foundation.close(fd)
            throw TestServerError("cannot listen on port \(port)")
        }
        self.fd = fd
    }

    public func close() {
        Foundation.close(self.fd)
    }
}
