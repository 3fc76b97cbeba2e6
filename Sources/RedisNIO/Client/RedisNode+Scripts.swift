import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Lua scripts: as a Redis Functions library's functions (`FCALL`) where Redis has them, by
/// `EVALSHA` where it has not.
extension RedisNode {
    /// Runs a Lua script: as its library's function by `FCALL` where Redis has functions (Redis
    /// 7), else by `EVALSHA`; either is loaded first when Redis does not know it yet (first use,
    /// a Redis restarted without its data, a new cluster node). Every step shares one deadline.
    ///
    /// With `changesState` and ``RedisConfiguration/waitReplicas`` N > 0, `WAIT N` follows the
    /// script on the same connection; fewer than N acknowledgements before the deadline is
    /// ``RedisClientError/notReplicated(_:of:)``.
    /// - Parameter asking: prefix `ASKING` (Redis Cluster, after an `-ASK` redirection).
    nonisolated(nonsending) func evaluate(_ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline) async throws -> RESPValue {
        try await self.evaluate(script, keys: keys, arguments: arguments, changesState: changesState, deadline: deadline, asking: false)
    }

    nonisolated(nonsending) func evaluate(
        _ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline, asking: Bool
    ) async throws -> RESPValue {
        // The common case first, by itself: its library loaded here, `FCALL`. Every other step is
        // a function never inlined, so that its locals do not widen this async frame, which a
        // request's task keeps in its slabs for as long as it lives (docs/scaling.md).
        if let function = script.function, self.state.withLockedValue({ !$0.noFunctions && $0.library == function.library.name }) {
            do {
                return try await self.call(function, keys: keys, arguments: arguments, changesState: changesState, deadline: deadline, asking: asking)
            } catch let error as RedisServerError where error.meansNoFunctions {
                self.noteNoFunctions(error)
            }
        }
        return try await self.loadAndEvaluate(script, keys: keys, arguments: arguments, changesState: changesState, deadline: deadline, asking: asking)
    }

    /// The script where its library is not loaded yet, or Redis has no functions (`EVALSHA`,
    /// loading the script when Redis does not know it).
    @inline(never)
    private nonisolated(nonsending) func loadAndEvaluate(
        _ script: RedisScript, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline, asking: Bool
    ) async throws -> RESPValue {
        if let function = script.function {
            let (noFunctions, loaded) = self.state.withLockedValue { ($0.noFunctions, $0.library == function.library.name) }
            if !noFunctions {
                do {
                    // Loaded first, not on `Function not found`: with `WAIT` after the call, a failed call waits too.
                    if !loaded { try await self.load(function.library, deadline: deadline) }
                    return try await self.call(function, keys: keys, arguments: arguments, changesState: changesState, deadline: deadline, asking: asking)
                } catch let error as RedisServerError where error.meansNoFunctions {
                    self.noteNoFunctions(error)
                }
            }
        }
        let known = self.state.withLockedValue { $0.scriptHashes[script.name] }
        let hash: String
        if let known {
            hash = known
        } else {
            hash = try await self.load(script, deadline: deadline)
        }
        var command = Self.scriptCommand("EVALSHA", hash, keys: keys, arguments: arguments)
        do {
            return try await self.evaluate(command, changesState: changesState, deadline: deadline, asking: asking)
        } catch let error as RedisServerError where error.prefix == "NOSCRIPT" {
            self.logger.info("Redis lost a script; loading it again", metadata: ["tokenpool.script": "\(script.name)"])
            command[1] = try await self.load(script, deadline: deadline)
            return try await self.evaluate(command, changesState: changesState, deadline: deadline, asking: asking)
        }
    }

    /// Scripts go by `EVALSHA` from now on here (said once).
    @inline(never)
    private func noteNoFunctions(_ error: RedisServerError) {
        let first = self.state.withLockedValue { state in
            defer { state.noFunctions = true }
            return !state.noFunctions
        }
        if first {
            self.logger.notice("Redis runs no functions here (Redis 7 does): scripts go by EVALSHA", metadata: ["error": "\(error.message)"])
        }
    }

    /// `FCALL` of `function`, after loading its library when Redis does not have it.
    private nonisolated(nonsending) func call(
        _ function: RedisScript.Function, keys: [String], arguments: [String], changesState: Bool, deadline: NIODeadline, asking: Bool
    ) async throws -> RESPValue {
        let command = Self.scriptCommand("FCALL", function.name, keys: keys, arguments: arguments)
        do {
            return try await self.evaluate(command, changesState: changesState, deadline: deadline, asking: asking)
        } catch let error as RedisServerError where error.message == "ERR Function not found" {
            return try await self.reloadAndCall(function, command, changesState: changesState, deadline: deadline, asking: asking)
        }
    }

    /// `command` again, after loading `function`'s library, which Redis lost (a restart without its data).
    @inline(never)
    private nonisolated(nonsending) func reloadAndCall(
        _ function: RedisScript.Function, _ command: [String], changesState: Bool, deadline: NIODeadline, asking: Bool
    ) async throws -> RESPValue {
        self.logger.info("Redis does not have the scripts' library; loading it", metadata: ["tokenpool.library": "\(function.library.name)"])
        try await self.load(function.library, deadline: deadline)
        return try await self.evaluate(command, changesState: changesState, deadline: deadline, asking: asking)
    }

    /// `EVALSHA HASH` or `FCALL FUNCTION`, the key count, the keys and the arguments, in one array sized once.
    private static func scriptCommand(_ verb: String, _ script: String, keys: [String], arguments: [String]) -> [String] {
        var command: [String] = []
        command.reserveCapacity(3 + keys.count + arguments.count)
        command.append(verb)
        command.append(script)
        command.append(String(keys.count))
        command.append(contentsOf: keys)
        command.append(contentsOf: arguments)
        return command
    }

    private nonisolated(nonsending) func evaluate(_ command: [String], changesState: Bool, deadline: NIODeadline, asking: Bool) async throws -> RESPValue {
        let wanted = changesState ? self.configuration.waitReplicas : 0
        if wanted == 0 && !asking {
            let reply = try await self.perform(command, deadline: deadline)
            if case .error(let message) = reply { throw RedisServerError(message) }
            return reply
        }
        return try await self.evaluate(command, waitingFor: wanted, deadline: deadline, asking: asking)
    }

    /// `command` after `ASKING`, or followed by `WAIT wanted`, in one write.
    @inline(never)
    private nonisolated(nonsending) func evaluate(_ command: [String], waitingFor wanted: Int, deadline: NIODeadline, asking: Bool) async throws -> RESPValue {
        var commands = asking ? [["ASKING"], command] : [command]
        if wanted > 0 {
            // WAIT gives up a little before the deadline, so its answer arrives before the command times out.
            let left = (deadline - .now()).nanoseconds / 1_000_000
            commands.append(["WAIT", String(wanted), String(max(1, left * 3 / 4))])
        }
        let replies = try await self.perform(commands, deadline: deadline).dropFirst(asking ? 1 : 0)
        for case .error(let message) in replies { throw RedisServerError(message) }
        guard wanted > 0, let acknowledged = replies.last else { return replies[replies.startIndex] }
        guard let count = acknowledged.int else { throw RedisClientError.unexpectedReply("WAIT: \(acknowledged.shape)") }
        guard count >= wanted else { throw RedisClientError.notReplicated(count, of: wanted) }
        return replies[replies.startIndex]
    }

    /// `FUNCTION LOAD`: a library of the same name already there is the same text (the name
    /// is the text's hash), loaded meanwhile by another replica.
    private nonisolated(nonsending) func load(_ library: RedisLibrary, deadline: NIODeadline) async throws {
        do {
            _ = try await self.send(["FUNCTION", "LOAD", library.source], deadline: deadline)
        } catch let error as RedisServerError where error.message == "ERR Library '\(library.name)' already exists" {
        }
        self.state.withLockedValue { $0.library = library.name }
    }

    private nonisolated(nonsending) func load(_ script: RedisScript, deadline: NIODeadline) async throws -> String {
        guard let hash = try await self.send(["SCRIPT", "LOAD", script.source], deadline: deadline).string else {
            throw RedisClientError.unexpectedReply("SCRIPT LOAD gave no hash")
        }
        self.state.withLockedValue { $0.scriptHashes[script.name] = hash }
        return hash
    }
}
