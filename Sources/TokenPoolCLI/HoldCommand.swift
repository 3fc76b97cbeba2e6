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
///
/// A lease lost while the command runs (a keep-alive answers 404 or 409, or none succeeded before
/// the lease's deadline by the server's last answer) means another job may hold the token now, so
/// the command is stopped: SIGTERM, SIGKILL after `--kill-after`, exit 8, like `consul lock`.
/// `--on-lost continue` lets it run on instead.
public struct HoldCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Run a command while holding a token of the pool.",
        discussion: """
            Exit 3 if no token was free within --wait; 8 if a lease was lost while the command ran (it is sent \
            SIGTERM, then SIGKILL after --kill-after); otherwise the command's own exit status.
            """
    )
    @OptionGroup var options: ServerOptions

    @Option(help: "How long to keep trying while no token is free: 30s, 2m, 500ms or seconds. Default 0 (try once).")
    var wait: String = "0"

    @Option(help: "How many tokens to hold at once, all or none (1-100): all in $TOKENPOOL_TOKENS.") var count = 1

    @Option(help: "A waiting assign's priority (-100 to 100): higher is served first.") var priority = 0

    @Option(help: "When a lease is lost: stop (SIGTERM the command, exit 8) or continue (let it run on).")
    var onLost: OnLost = .stop

    @Option(help: "After SIGTERM on a lost lease, SIGKILL the command this much later: 10s, 500ms or seconds.")
    var killAfter: String = "10s"

    enum OnLost: String, ExpressibleByArgument, CaseIterable {
        case stop, `continue`
    }

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments, after --.")
    var command: [String] = []

    public func validate() throws {
        guard Self.duration(self.wait) != nil else { throw ValidationError("--wait takes 30s, 2m, 500ms or a number of seconds") }
        guard Self.duration(self.killAfter) != nil else { throw ValidationError("--kill-after takes 10s, 500ms or a number of seconds") }
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
        // When the assign that answered was sent: its lease's deadline counts from there.
        var sentAt = ContinuousClock.now
        while true {
            sentAt = ContinuousClock.now
            let left = deadline - sentAt
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

        var leases = held.map { HeldLease(info: $0, sentAt: sentAt) }
        let status = await self.keepAlive(&leases, while: child, client: client)
        for lease in leases where lease.lostBecause == nil {
            do {
                try await client.unblock(lease.info.token, lease: lease.info.lease, in: pool)
            } catch where error.code != .leaseConflict {
                FileHandle.standardError.write(Data("tokenpool: could not unblock \(lease.info.token) (\(error)); its lease will lapse\n".utf8))
            } catch {}
        }
        if leases.contains(where: { $0.lostBecause != nil }) && self.onLost == .stop {
            return ClientExit.leaseLost
        }
        return status
    }

    /// One held token: its lease's deadline by the server's last answer (from when that request
    /// was sent, so never later than the server's), and why it was lost, once it is.
    private struct HeldLease {
        var info: TokenInfo
        var deadline: ContinuousClock.Instant
        var lostBecause: String?

        init(info: TokenInfo, sentAt: ContinuousClock.Instant) {
            self.info = info
            self.deadline = sentAt + .milliseconds(Int64((info.leaseExpiresIn ?? 0) * 1000))
        }
    }

    /// Keeps every lease alive until the command exits; its exit status. Each keep-alive comes at
    /// a third of what the server last said was left (Redis's clock, as a duration: a wrong clock
    /// here changes nothing), the soonest lease's interval for all (they began together). A lost
    /// lease stops the command (SIGTERM, then SIGKILL after --kill-after) unless --on-lost continue.
    private func keepAlive(_ leases: inout [HeldLease], while child: ChildProcess, client: TokenPoolClient) async -> Int32 {
        let pool = self.options.pool
        var nextKeepAlive = ContinuousClock.now + (leases.compactMap(\.info.keepAliveInterval).min() ?? .seconds(10))
        var killAt: ContinuousClock.Instant?
        while true {
            // A timer on the monotonic clock: see monotonicSleep.
            try? await monotonicSleep(for: .milliseconds(50))
            if let status = child.exitStatus() { return status }
            if let at = killAt, ContinuousClock.now >= at {
                child.signal(SIGKILL)
                killAt = nil
            }
            guard ContinuousClock.now >= nextKeepAlive else { continue }
            // The soonest of what the answers ask for; 500 ms after a failed try.
            var next = Duration.seconds(86_400)
            for index in leases.indices where leases[index].lostBecause == nil {
                let (token, lease, sentAt) = (leases[index].info.token, leases[index].info.lease, ContinuousClock.now)
                do {
                    let left = max(.milliseconds(50), leases[index].deadline - sentAt)
                    let info = try await client.keepAlive(token, lease: lease, in: pool, timeout: min(left, client.timeout))
                    (leases[index].info, leases[index].deadline) = (info, sentAt + .milliseconds(Int64((info.leaseExpiresIn ?? 0) * 1000)))
                    next = min(next, info.keepAliveInterval ?? .seconds(10))
                } catch where error.code == .tokenNotFound || error.code == .leaseConflict {
                    leases[index].lostBecause = "a keep-alive answered \(error.status)"
                } catch {
                    // Transient: tried again soon, until the lease's deadline passes.
                    if ContinuousClock.now >= leases[index].deadline {
                        leases[index].lostBecause = "no keep-alive succeeded before the lease's deadline (\(error))"
                    } else {
                        next = min(next, .milliseconds(500))
                    }
                }
                guard let why = leases[index].lostBecause else { continue }
                if self.onLost == .continue {
                    FileHandle.standardError.write(Data("tokenpool: the lease on \(token) was lost (\(why)); the command goes on without it\n".utf8))
                } else if killAt == nil {
                    let grace = Self.duration(self.killAfter) ?? .seconds(10)
                    FileHandle.standardError.write(
                        Data("tokenpool: the lease on \(token) was lost (\(why)); stopping the command (SIGTERM, SIGKILL after \(self.killAfter))\n".utf8))
                    child.signal(SIGTERM)
                    killAt = ContinuousClock.now + grace
                }
            }
            nextKeepAlive = ContinuousClock.now + next
        }
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
