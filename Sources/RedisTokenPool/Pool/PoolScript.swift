import RedisNIO

/// The scripts of `Scripts/lua`, embedded at build time by the EmbedTextFiles plugin.
///
/// Redis runs them as the functions of one library (Redis 7): `prelude.lua` once, then each
/// script the body of a function. Redis makes the prelude's helpers once, when the library
/// loads, where an `EVAL` makes them again on every call (a tenth of Redis's work on a cycle
/// request). The library is named after a hash of the scripts' text, so replicas of two versions
/// (a rolling upgrade) each call their own; a Redis before 7 gets each script by `EVALSHA`, with
/// the prelude in front of it.
package enum PoolScript: Int, CaseIterable {
    case assign, unblock, keepAlive, delete, generate, inspect, stats, reap, leave, renew, list, metadata, settings, dropPool

    var script: RedisScript {
        Self.scripts[self.rawValue]
    }

    /// The script's name (its file's, and its function's after the library's name), its file
    /// without the prelude, and whether it may write (with `--redis-wait-replicas` such a script
    /// is followed by `WAIT`; one that only reads is flagged `no-writes`).
    private var definition: (name: String, body: String, changesState: Bool) {
        switch self {
        case .assign: ("assign", LuaSource.assign, true)
        case .unblock: ("unblock", LuaSource.unblock, true)
        case .keepAlive: ("keep_alive", LuaSource.keepAlive, true)
        case .delete: ("delete", LuaSource.delete, true)
        case .generate: ("generate", LuaSource.generate, true)
        case .inspect: ("inspect", LuaSource.inspect, false)
        case .stats: ("stats", LuaSource.stats, false)
        case .reap: ("reap", LuaSource.reap, true)
        case .leave: ("leave", LuaSource.leave, true)
        case .renew: ("renew", LuaSource.renew, true)
        case .list: ("list", LuaSource.list, false)
        case .metadata: ("metadata", LuaSource.metadata, true)
        case .settings: ("settings", LuaSource.settings, true)
        case .dropPool: ("drop_pool", LuaSource.dropPool, true)
        }
    }

    var name: String { self.definition.name }
    var body: String { self.definition.body }
    /// Read on every call: from a table made once, not from ``definition``'s texts.
    var changesState: Bool { Self.changesState[self.rawValue] }

    private static let changesState: [Bool] = allCases.map(\.definition.changesState)

    /// `tokenpool_` and 16 hex digits of the scripts' hash.
    static let libraryName: String = {
        let text = LuaSource.prelude + allCases.map(\.body).joined()
        return "tokenpool_" + String(fnv1a64(text), radix: 16).leftPadded(to: 16)
    }()

    /// Every script as a function `LIBRARY_SCRIPT` of one library.
    static let library = makeLibrary(name: libraryName, prelude: LuaSource.prelude, scripts: allCases.map { ($0.name, $0.body, $0.changesState) })

    /// A library of `scripts` after `prelude`: the prelude's `KEYS` and `ARGV` are the library's
    /// locals, and each function sets them and calls the prelude's `reset()` before its body
    /// runs, so no script can read the clock or settings of the call before it.
    static func makeLibrary(name: String, prelude: String, scripts: [(name: String, body: String, changesState: Bool)]) -> RedisLibrary {
        var source = "#!lua name=\(name)\n-- TokenPool's scripts, made from Scripts/lua by PoolScript.swift.\nlocal KEYS, ARGV\n"
        source += prelude
        for script in scripts {
            source += "\nlocal function script_\(script.name)()\n\(script.body)\nend\n"
            source += "redis.register_function{function_name = '\(name)_\(script.name)', callback = function(keys, args)\n"
            source += "    KEYS, ARGV = keys, args\n    reset()\n    return script_\(script.name)()\nend"
            source += script.changesState ? "}\n" : ", flags = {'no-writes'}}\n"
        }
        return RedisLibrary(name: name, source: source)
    }

    /// In `allCases` order, which is the raw values'.
    private static let scripts: [RedisScript] = allCases.map { script in
        let function = RedisScript.Function(library: library, name: "\(libraryName)_\(script.name)")
        return RedisScript(name: script.name, source: LuaSource.prelude + script.body, function: function)
    }
}

/// FNV-1a, 64 bits: a name for a text that changes when the text does (not a defence against anyone).
private func fnv1a64(_ text: String) -> UInt64 {
    text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
