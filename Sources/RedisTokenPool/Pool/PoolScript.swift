/// The scripts of `Scripts/lua`, each with `prelude.lua` in front, embedded at build time by
/// the EmbedTextFiles plugin.
enum PoolScript: CaseIterable {
    case assign, unblock, keepAlive, delete, generate, inspect, stats, reap, leave, renew, list, metadata, settings, dropPool

    var script: RedisScript {
        switch self {
        case .assign: Self.assignScript
        case .unblock: Self.unblockScript
        case .keepAlive: Self.keepAliveScript
        case .delete: Self.deleteScript
        case .generate: Self.generateScript
        case .inspect: Self.inspectScript
        case .stats: Self.statsScript
        case .reap: Self.reapScript
        case .leave: Self.leaveScript
        case .renew: Self.renewScript
        case .list: Self.listScript
        case .metadata: Self.metadataScript
        case .settings: Self.settingsScript
        case .dropPool: Self.dropPoolScript
        }
    }

    /// Whether the script may write: with `--redis-wait-replicas` such a script is followed by `WAIT`.
    var changesState: Bool {
        switch self {
        case .assign, .unblock, .keepAlive, .delete, .generate, .reap, .leave, .renew, .metadata, .settings, .dropPool: true
        case .inspect, .stats, .list: false
        }
    }

    private static let assignScript = RedisScript(name: "assign", source: LuaSource.assign)
    private static let unblockScript = RedisScript(name: "unblock", source: LuaSource.unblock)
    private static let keepAliveScript = RedisScript(name: "keep_alive", source: LuaSource.keepAlive)
    private static let deleteScript = RedisScript(name: "delete", source: LuaSource.delete)
    private static let generateScript = RedisScript(name: "generate", source: LuaSource.generate)
    private static let inspectScript = RedisScript(name: "inspect", source: LuaSource.inspect)
    private static let statsScript = RedisScript(name: "stats", source: LuaSource.stats)
    private static let reapScript = RedisScript(name: "reap", source: LuaSource.reap)
    private static let leaveScript = RedisScript(name: "leave", source: LuaSource.leave)
    private static let renewScript = RedisScript(name: "renew", source: LuaSource.renew)
    private static let listScript = RedisScript(name: "list", source: LuaSource.list)
    private static let metadataScript = RedisScript(name: "metadata", source: LuaSource.metadata)
    private static let settingsScript = RedisScript(name: "settings", source: LuaSource.settings)
    private static let dropPoolScript = RedisScript(name: "drop_pool", source: LuaSource.dropPool)
}
