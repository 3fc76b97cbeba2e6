import ArgumentParser
import Dispatch
import Foundation
import TokenPoolClient

#if canImport(Glibc)
import Glibc
#endif

/// `tokenpool hold [--wait 30s] [--count N] -- COMMAND...`: like `flock` for a pool. Assigns a
/// token (or N at once, all or none), runs the command with `TOKENPOOL_TOKEN` (and
/// `TOKENPOOL_LEASE`, `TOKENPOOL_POOL`; every token in `TOKENPOOL_TOKENS`, their leases in
/// `TOKENPOOL_LEASES`, space-separated) in its environment, keeps every lease alive while it
/// runs, unblocks them when it exits — also on SIGINT or SIGTERM, which are passed on to the
/// command — and exits with the command's status.
public struct HoldCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Run a command while holding a token of the pool.",
        discussion: "Exit 3 if no token was free within --wait; otherwise the command's own exit status."
    )
    @OptionGroup var options: ServerOptions

    @Option(help: "How long to keep trying while no token is free: 30s, 2m, 500ms or seconds. Default 0 (try once).")
    var wait: String = "0"

    @Option(help: "How many tokens to hold at once, all or none (1-100): all in $TOKENPOOL_TOKENS.") var count = 1

    @Option(help: "A waiting assign's priority (-100 to 100): higher is served first.") var priority = 0

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    public func validate() throws {
        guard Self.duration(self.wait) != nil else { throw ValidationError("--wait takes 30s, 2m, 500ms or a number of seconds") }
        guard (1...100).contains(self.count) else { throw ValidationError("--count must be from 1 to 100") }
        guard (-100...100).contains(self.priority) else { throw ValidationError("--priority must be from -100 to 100") }
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
        let (count, priority) = (self.count, self.priority)
        var held: [TokenInfo]
        while true {
            let left = deadline - ContinuousClock.now
            do {
                let wait = max(.zero, min(left, .seconds(25)))
                held = count == 1 && priority == 0
                    ? [try await client.assign(in: pool, wait: wait)]
                    : try await client.assign(count: count, priority: priority, wait: wait, in: pool)
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
        // The command runs in our process group, so a Ctrl-C at the terminal reaches it as well.
        var environment = ProcessInfo.processInfo.environment
        environment["TOKENPOOL_TOKEN"] = held[0].token
        environment["TOKENPOOL_LEASE"] = held[0].lease.map { String($0) }
        environment["TOKENPOOL_TOKENS"] = held.map(\.token).joined(separator: " ")
        environment["TOKENPOOL_LEASES"] = held.map { $0.lease.map { String($0) } ?? "" }.joined(separator: " ")
        environment["TOKENPOOL_POOL"] = pool
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(self.arguments[0], arguments: Array(self.arguments.dropFirst()), environment: environment, ownProcessGroup: false)
        } catch {
            for info in held { _ = try? await client.unblock(info.token, lease: info.lease, in: pool) }
            FileHandle.standardError.write(Data("tokenpool: \(error)\n".utf8))
            return 127
        }
        let forwarding = Self.forwardSignals(to: child)
        defer { forwarding.forEach { $0.cancel() } }

        // Keep the lease alive at a third of what is left of it: a duration the server measured
        // by Redis's clock, so a wrong clock here changes nothing.
        // Every lease is kept alive, the soonest's interval for all (they began together).
        var interval = held.compactMap(\.keepAliveInterval).min() ?? .seconds(10)
        var nextKeepAlive = ContinuousClock.now + interval
        var status: Int32?
        while status == nil {
            // A timer on the monotonic clock: see monotonicSleep.
            try? await monotonicSleep(for: .milliseconds(50))
            status = child.exitStatus()
            if status == nil && ContinuousClock.now >= nextKeepAlive {
                var next = interval
                for info in held {
                    do {
                        next = min(next, try await client.keepAlive(info.token, lease: info.lease, in: pool).keepAliveInterval ?? interval)
                    } catch where error.code == .tokenNotFound || error.code == .leaseConflict {
                        FileHandle.standardError.write(Data("tokenpool: the lease on \(info.token) was lost (\(error.status)); the command goes on without it\n".utf8))
                    } catch {
                        // Transient: the next try comes at the same interval, well inside the lease.
                    }
                }
                interval = next
                nextKeepAlive = ContinuousClock.now + interval
            }
        }
        for info in held {
            do {
                try await client.unblock(info.token, lease: info.lease, in: pool)
            } catch where error.code != .leaseConflict {
                FileHandle.standardError.write(Data("tokenpool: could not unblock \(info.token) (\(error)); its lease will lapse\n".utf8))
            } catch {}
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
