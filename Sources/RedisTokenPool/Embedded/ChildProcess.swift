#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, with every signal unblocked and at its default.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and threads of the
/// Swift runtime block most signals: a `redis-server` started that way ignores SIGTERM.
public struct ChildProcess: Sendable {
    public struct SpawnError: Error, CustomStringConvertible {
        let errno: Int32
        let path: String
        public var description: String { "cannot start \(self.path): \(String(cString: strerror(self.errno)))" }
    }

    public let pid: pid_t

    /// Starts `path` (looked up on PATH when it has no slash) with `arguments`.
    /// - Parameters:
    ///   - environment: the child's whole environment; `nil` passes this process's on.
    ///   - ownProcessGroup: a group of its own, so a Ctrl-C at the terminal does not reach it directly.
    public static func spawn(
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

    public func signal(_ signal: Int32) {
        kill(self.pid, signal)
    }

    /// The exit status once the child has exited (and is reaped), else `nil`. Never blocks.
    /// A child ended by a signal gives 128 + the signal, as a shell does.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(self.pid, &status, WNOHANG)
        if result == self.pid { 
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
        return result == 0 ? nil : -1
    }
}
