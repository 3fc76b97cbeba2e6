#if canImport(Glibc)
import Glibc
#endif
import Testing
import TokenPoolCLI

/// `tokenpool hold`'s child process reports its real exit status, however often it is asked.
struct ChildProcessTests {
    @Test func aChildsExitStatusIsReportedEveryTimeItIsAsked() async throws {
        let child = try ChildProcess.spawn("sh", arguments: ["-c", "exit 3"])
        #expect(await child.waitForExit() == 3)
        #expect(child.exitStatus() == 3)
        let killed = try ChildProcess.spawn("sleep", arguments: ["30"])
        killed.signal(SIGKILL)
        #expect(await killed.waitForExit() == 128 + SIGKILL)
        #expect(killed.exitStatus() == 128 + SIGKILL)
    }
}
