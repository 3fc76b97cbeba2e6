#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, with every signal unblocked and at its default.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and threads of the
/// Swift runtime block most signals: a `redis-server` started that way ignores SIGTERM.
struct ChildProcess: Sendable {
    struct SpawnError: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { "posix_spawn failed: \(String(cString: strerror(self.errno)))" }
    }

    let pid: pid_t

    static func spawn(_ path: String, arguments: [String]) throws -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // Its own process group: a Ctrl-C at the terminal reaches TokenPool, which then stops Redis in order.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, nil, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(errno: result) }
        return ChildProcess(pid: pid)
    }

    func signal(_ signal: Int32) {
        kill(self.pid, signal)
    }

    /// The exit status once the child has exited (and is reaped), else `nil`. Never blocks.
    func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(self.pid, &status, WNOHANG)
        if result == self.pid { 
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
        return result == 0 ? nil : -1
    }
}
