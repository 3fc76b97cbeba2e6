import NIOCore
import Testing

@testable import RedisNIO

/// The command handler's rules, without a channel: promises are plain numbers.
struct CommandStateMachineTests {
    typealias Machine = RedisCommandStateMachine<Int>
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    /// When the commands are written: just before `start`, so none is late yet.
    var now: NIODeadline { self.start - .milliseconds(1) }

    @Test func armsOneTimerForTheFirstCommandOnly() {
        var machine = Machine()
        guard case .write(let first) = machine.write(1, deadline: self.start + .milliseconds(100), now: { self.now }),
            case .write(let second) = machine.write(2, deadline: self.start + .milliseconds(150), now: { self.now })
        else {
            Issue.record("a fresh machine refused a command")
            return
        }
        #expect(first == self.start + .milliseconds(100))
        #expect(second == nil)
    }

    @Test func aCommandDueSoonerThanTheTimerMovesIt() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start + .milliseconds(1000), now: { self.now })
        // Overtaken by a few microseconds: the timer stays where it is.
        guard case .write(nil) = machine.write(2, deadline: self.start + .milliseconds(999), now: { self.now }) else {
            Issue.record("the timer moved for less than the tolerance")
            return
        }
        // A command that waited for a connection arrives with its deadline much nearer.
        guard case .write(let moved) = machine.write(3, deadline: self.start + .milliseconds(200), now: { self.now }) else {
            Issue.record("a fresh machine refused a command")
            return
        }
        #expect(moved == self.start + .milliseconds(200))
        // At that deadline command 3 is late, though the two ahead of it are not: all fail.
        guard case .failAllAndClose(let failed, let error) = machine.timerFired(now: self.start + .milliseconds(200)) else {
            Issue.record("a command past its deadline did not time out")
            return
        }
        #expect(failed == [1, 2, 3])
        #expect(error == .timeout)
    }

    @Test func aCommandAlreadyLateFailsAloneAndTheConnectionServesOn() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start + .seconds(1), now: { self.start })
        guard case .fail(let error) = machine.write(2, deadline: self.start - .milliseconds(1), now: { self.start }) else {
            Issue.record("a command past its deadline was sent")
            return
        }
        #expect(error == .timeout)
        #expect(machine.inFlight == 1)
        guard case .succeed(1) = machine.replyReceived() else {
            Issue.record("the command in flight lost its reply")
            return
        }
    }

    @Test func theTimerReArmsForTheEarliestDeadlineInFlight() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start + .milliseconds(100), now: { self.now })
        _ = machine.write(2, deadline: self.start + .milliseconds(900), now: { self.now })
        _ = machine.write(3, deadline: self.start + .milliseconds(500), now: { self.now })
        _ = machine.replyReceived()
        guard case .arm(let next) = machine.timerFired(now: self.start + .milliseconds(100)) else {
            Issue.record("timer not re-armed for the commands still in flight")
            return
        }
        #expect(next == self.start + .milliseconds(500))
    }

    @Test func repliesCompleteCommandsInOrder() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start, now: { self.now })
        _ = machine.write(2, deadline: self.start, now: { self.now })
        guard case .succeed(let a) = machine.replyReceived(), case .succeed(let b) = machine.replyReceived() else {
            Issue.record("replies were not matched")
            return
        }
        #expect([a, b] == [1, 2])
        #expect(machine.inFlight == 0)
    }

    @Test func theTimerReArmsForTheNextCommandAndStopsWhenIdle() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start + .milliseconds(100), now: { self.now })
        _ = machine.write(2, deadline: self.start + .milliseconds(300), now: { self.now })
        _ = machine.replyReceived()
        // The timer set for command 1 fires; command 2 is not late yet: arm for it.
        guard case .arm(let next) = machine.timerFired(now: self.start + .milliseconds(100)) else {
            Issue.record("timer not re-armed for the command still in flight")
            return
        }
        #expect(next == self.start + .milliseconds(300))
        _ = machine.replyReceived()
        // Idle: the timer fires once more and is not armed again.
        guard case .none = machine.timerFired(now: next) else {
            Issue.record("an idle connection kept a timer")
            return
        }
        // The next command arms a new one.
        guard case .write(let armed) = machine.write(3, deadline: self.start + .seconds(1), now: { self.now }) else { return }
        #expect(armed == self.start + .seconds(1))
    }

    @Test func aLateCommandFailsEveryoneAndLaterCommandsAreRefused() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start + .milliseconds(100), now: { self.now })
        _ = machine.write(2, deadline: self.start + .milliseconds(200), now: { self.now })
        guard case .failAllAndClose(let failed, let error) = machine.timerFired(now: self.start + .milliseconds(100)) else {
            Issue.record("a late command did not time out")
            return
        }
        #expect(failed == [1, 2])
        #expect(error == .timeout)
        guard case .fail(let refused) = machine.write(3, deadline: self.start + .seconds(5), now: { self.now }) else {
            Issue.record("a failed connection took a command")
            return
        }
        #expect(refused == .timeout)
        #expect(machine.fail(.connectionClosed).isEmpty)
    }

    @Test func aReplyNobodyAskedForClosesTheConnection() {
        var machine = Machine()
        guard case .failAllAndClose(let failed, let error) = machine.replyReceived() else {
            Issue.record("an unasked-for reply was accepted")
            return
        }
        #expect(failed.isEmpty)
        #expect(error.code == .unexpectedReply)
    }

    @Test func closingFailsWhatIsInFlight() {
        var machine = Machine()
        _ = machine.write(1, deadline: self.start, now: { self.now })
        _ = machine.write(2, deadline: self.start, now: { self.now })
        #expect(machine.fail(.connectionClosed) == [1, 2])
        #expect(machine.inFlight == 0)
    }
}
