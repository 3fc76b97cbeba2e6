import ArgumentParser
import Dispatch
import Foundation
import NIOHTTP1
import RedisTokenPool

#if canImport(Glibc)
import Glibc
#endif

/// `tokenpool hold [--wait 30s] -- COMMAND...`: like `flock` for a pool. Assigns a token, runs
/// the command with `TOKENPOOL_TOKEN` (and `TOKENPOOL_LEASE`, `TOKENPOOL_POOL`) in its
/// environment, keeps the lease alive while it runs, unblocks when it exits — also on SIGINT or
/// SIGTERM, which are passed on to the command — and exits with the command's status.
struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Run a command while holding a token of the pool.",
        discussion: "Exit 3 if no token was free within --wait; otherwise the command's own exit status."
    )
    @OptionGroup var options: ServerOptions

    @Option(help: "How long to keep trying while no token is free: 30s, 2m, 500ms or seconds. Default 0 (try once).")
    var wait: String = "0"

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        guard Self.duration(self.wait) != nil else { throw ValidationError("--wait takes 30s, 2m, 500ms or a number of seconds") }
        guard !self.arguments.isEmpty else { throw ValidationError("give the command to run after --") }
    }

    private var arguments: [String] { self.command.first == "--" ? Array(self.command.dropFirst()) : self.command }

    func run() async throws {
        let status = try await TokenPoolHTTP.with(self.options) { http in try await self.hold(http) }
        throw ExitCode(status)
    }

    private func hold(_ http: TokenPoolHTTP) async throws -> Int32 {
        // Assign, retrying while none is free until --wait runs out.
        let deadline = ContinuousClock.now + (Self.duration(self.wait) ?? .zero)
        var answer = await http.call(.POST, "/tokens/assign")
        while answer.status == 404 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            answer = await http.call(.POST, "/tokens/assign")
        }
        guard answer.status == 200, let json = answer.json, let token = json["token"] as? String, let lease = json["lease"] as? Int else {
            return http.report(answer, noFreeToken: true) { _ in "" }
        }

        // The command runs in our process group, so a Ctrl-C at the terminal reaches it as well.
        var environment = ProcessInfo.processInfo.environment
        environment["TOKENPOOL_TOKEN"] = token
        environment["TOKENPOOL_LEASE"] = String(lease)
        environment["TOKENPOOL_POOL"] = self.options.pool
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(self.arguments[0], arguments: Array(self.arguments.dropFirst()), environment: environment, ownProcessGroup: false)
        } catch {
            _ = await http.call(.POST, "/tokens/\(token)/unblock?lease=\(lease)")
            FileHandle.standardError.write(Data("tokenpool: \(error)\n".utf8))
            return 127
        }
        let forwarding = Self.forwardSignals(to: child)
        defer { forwarding.forEach { $0.cancel() } }

        // Keep the lease alive at a third of what is left of it, until the command exits.
        let interval = Self.keepAliveInterval(leaseExpiresAt: json["leaseExpiresAt"] as? String)
        var nextKeepAlive = ContinuousClock.now + interval
        var status: Int32?
        while status == nil {
            try? await Task.sleep(for: .milliseconds(50))
            status = child.exitStatus()
            if status == nil && ContinuousClock.now >= nextKeepAlive {
                let kept = await http.call(.POST, "/tokens/\(token)/keep-alive?lease=\(lease)")
                if kept.status == 404 || kept.status == 409 {
                    FileHandle.standardError.write(Data("tokenpool: the lease on \(token) was lost (\(kept.status)); the command goes on without it\n".utf8))
                }
                nextKeepAlive = ContinuousClock.now + interval
            }
        }
        let freed = await http.call(.POST, "/tokens/\(token)/unblock?lease=\(lease)")
        if freed.status != 200 && freed.status != 409 {
            FileHandle.standardError.write(Data("tokenpool: could not unblock \(token) (\(freed.status)); its lease will lapse\n".utf8))
        }
        return status ?? 1
    }

    /// SIGINT and SIGTERM go on to the command; we wait for it and unblock after it.
    private static func forwardSignals(to child: ChildProcess) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { child.signal(number) }
            source.resume()
            return source
        }
    }

    private static func keepAliveInterval(leaseExpiresAt: String?) -> Duration {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let text = leaseExpiresAt, let until = formatter.date(from: text) else { return .seconds(10) }
        let left = until.timeIntervalSinceNow
        return .milliseconds(Int64(max(0.1, left / 3) * 1000))
    }

    /// `30s`, `2m`, `500ms`, `1.5` (seconds).
    static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0 { return .milliseconds(Int64(number * scale * 1000)) }
        }
        if let number = Double(text), number >= 0 { return .milliseconds(Int64(number * 1000)) }
        return nil
    }
}
