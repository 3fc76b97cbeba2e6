import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `tokenpool hold`'s command: a child process started with `posix_spawn`, with every signal
/// unblocked and at its default, which shares the terminal's process group and gets the signals
/// `hold` forwards.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and threads of the
/// Swift runtime block most signals: a command started that way ignores SIGTERM.
///
/// The child is reaped once, by the first look that finds it gone; its status is kept, so every
/// later look reports the same real status.
package final class ChildProcess: Sendable {
    package struct SpawnError: Error, CustomStringConvertible {
        let errno: Int32
        let path: String
        package var description: String { "cannot start \(self.path): \(String(cString: strerror(self.errno)))" }
    }

    package let pid: pid_t
    private let status = NIOLockedValueBox<Int32?>(nil)

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Starts `path` (looked up on PATH when it has no slash) with `arguments`.
    /// - Parameters:
    ///   - environment: the child's whole environment; `nil` passes this process's on.
    ///   - ownProcessGroup: a group of its own, so a Ctrl-C at the terminal does not reach it directly.
    package static func spawn(
        _ path: String,
        arguments: [String],
        environment: [String: String]? = nil,
        ownProcessGroup: Bool = true
    ) throws -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            // A Ctrl-C at the terminal reaches TokenPool, which then stops the child in order.
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let result = envp.map { envp in
            envp.withUnsafeBufferPointer { posix_spawnp(&pid, path, nil, &attributes, argv, UnsafeMutablePointer(mutating: $0.baseAddress!)) }
        } ?? posix_spawnp(&pid, path, nil, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(errno: result, path: path) }
        return ChildProcess(pid: pid)
    }

    /// Sends `signal` unless the child has been reaped (its pid may belong to another by then).
    package func signal(_ signal: Int32) {
        self.status.withLockedValue { status in
            if status == nil { kill(self.pid, signal) }
        }
    }

    /// The exit status once the child has exited, else `nil`. Never blocks. A child ended by a
    /// signal gives 128 + the signal, as a shell does.
    package func exitStatus() -> Int32? {
        self.status.withLockedValue { status in
            if let status { return status }
            var raw: Int32 = 0
            guard waitpid(self.pid, &raw, WNOHANG) == self.pid else { return nil }
            status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            return status
        }
    }

    /// Waits until the child has exited and returns its status, without blocking a thread.
    /// Not cancellable: a caller that asked the child to stop waits until it has.
    package func waitForExit(pollingEvery interval: Duration = .milliseconds(20)) async -> Int32 {
        while true {
            if let status = self.exitStatus() { return status }
            // Detached: `Task.sleep` in a cancelled task returns at once, and this loop would spin.
            await Task.detached { try? await Task.sleep(for: interval) }.value
        }
    }
}
