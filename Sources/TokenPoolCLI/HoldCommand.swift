import ArgumentParser
import Dispatch
import Foundation
import TokenPoolClient

#if canImport(Glibc)
import Glibc
#endif

/// `tokenpool hold [--wait 30s] -- COMMAND...`: like `flock` for a pool. Assigns a token, runs
/// the command with `TOKENPOOL_TOKEN` (and `TOKENPOOL_LEASE`, `TOKENPOOL_POOL`) in its
/// environment, keeps the lease alive while it runs, unblocks when it exits — also on SIGINT or
/// SIGTERM, which are passed on to the command — and exits with the command's status.
public struct HoldCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Run a command while holding a token of the pool.",
        discussion: "Exit 3 if no token was free within --wait; otherwise the command's own exit status."
    )
    @OptionGroup var options: ServerOptions

    @Option(help: "How long to keep trying while no token is free: 30s, 2m, 500ms or seconds. Default 0 (try once).")
    var wait: String = "0"

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    public func validate() throws {
        guard Self.duration(self.wait) != nil else { throw ValidationError("--wait takes 30s, 2m, 500ms or a number of seconds") }
        guard !self.arguments.isEmpty else { throw ValidationError("give the command to run after --") }
    }

    private var arguments: [String] { self.command.first == "--" ? Array(self.command.dropFirst()) : self.command }

    public init() {}

    public func run() async throws {
        throw ExitCode(try await self.hold(self.options.client))
    }

    private func hold(_ client: TokenPoolClient) async throws -> Int32 {
        let pool = self.options.pool
        // Assign, waiting in the server's queue until --wait runs out: in turns of at most 25 s,
        // within every proxy's timeout (Heroku's router cuts a request at 30 s).
        let deadline = ContinuousClock.now + (Self.duration(self.wait) ?? .zero)
        var held: TokenInfo
        while true {
            let left = deadline - ContinuousClock.now
            do {
                held = try await client.assign(in: pool, wait: max(.zero, min(left, .seconds(25))))
                break
            } catch where error.code == .noFreeToken && ContinuousClock.now < deadline {
                continue
            } catch where error.problem?.slug == "wait-interrupted" && ContinuousClock.now < deadline {
                // The place was lost (Redis restarted or out of reach): queue again after a breath.
                try await monotonicSleep(for: .milliseconds(200))
            } catch {
                ServerOptions.report(error)
                return ClientExit.code(for: error)
            }
        }
        let (token, lease) = (held.token, held.lease)

        // The command runs in our process group, so a Ctrl-C at the terminal reaches it as well.
        var environment = ProcessInfo.processInfo.environment
        environment["TOKENPOOL_TOKEN"] = token
        environment["TOKENPOOL_LEASE"] = lease.map { String($0) }
        environment["TOKENPOOL_POOL"] = pool
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(self.arguments[0], arguments: Array(self.arguments.dropFirst()), environment: environment, ownProcessGroup: false)
        } catch {
            _ = try? await client.unblock(token, lease: lease, in: pool)
            FileHandle.standardError.write(Data("tokenpool: \(error)\n".utf8))
            return 127
        }
        let forwarding = Self.forwardSignals(to: child)
        defer { forwarding.forEach { $0.cancel() } }

        // Keep the lease alive at a third of what is left of it: a duration the server measured
        // by Redis's clock, so a wrong clock here changes nothing.
        var interval = held.keepAliveInterval ?? .seconds(10)
        var nextKeepAlive = ContinuousClock.now + interval
        var status: Int32?
        while status == nil {
            // A timer on the monotonic clock: see monotonicSleep.
            try? await monotonicSleep(for: .milliseconds(50))
            status = child.exitStatus()
            if status == nil && ContinuousClock.now >= nextKeepAlive {
                do {
                    interval = try await client.keepAlive(token, lease: lease, in: pool).keepAliveInterval ?? interval
                } catch where error.code == .tokenNotFound || error.code == .leaseConflict {
                    FileHandle.standardError.write(Data("tokenpool: the lease on \(token) was lost (\(error.status)); the command goes on without it\n".utf8))
                } catch {
                    // Transient: the next try comes at the same interval, well inside the lease.
                }
                nextKeepAlive = ContinuousClock.now + interval
            }
        }
        do {
            try await client.unblock(token, lease: lease, in: pool)
        } catch where error.code != .leaseConflict {
            FileHandle.standardError.write(Data("tokenpool: could not unblock \(token) (\(error)); its lease will lapse\n".utf8))
        } catch {}
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
