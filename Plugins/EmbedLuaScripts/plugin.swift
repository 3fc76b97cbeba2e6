import Foundation
import PackagePlugin

/// Embeds every `Scripts/lua/*.lua` of the package into the target as a Swift constant,
/// so the binary never needs the repository at run time and the `.lua` files stay the
/// single source that `redis-cli --eval` also runs.
@main
struct EmbedLuaScripts: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let scriptsDirectory = context.package.directoryURL.appending(path: "Scripts/lua")
        let scripts = try FileManager.default.contentsOfDirectory(at: scriptsDirectory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "LuaScripts.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(scripts.count) Lua scripts",
                executable: try context.tool(named: "EmbedLua").url,
                arguments: [output.path()] + scripts.map { $0.path() },
                inputFiles: scripts,
                outputFiles: [output]
            )
        ]
    }
}
