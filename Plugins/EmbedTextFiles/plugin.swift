import Foundation
import PackagePlugin

/// Embeds text files into a target as Swift string constants, so the binary never needs the
/// repository at run time while the files stay the single source:
/// - `RedisTokenPool`: every `Scripts/lua/*.lua` with `prelude.lua` put in front of it (as
///   `redis-cli --eval <(cat prelude.lua SCRIPT.lua)` runs it by hand), as `enum LuaSource`;
/// - any other target: every file in its `Embedded/` folder (the OpenAPI document, doc pages), as `enum EmbeddedFile`.
@main
struct EmbedTextFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let (directory, enumName, fileExtension): (URL, String, String?) =
            target.name == "RedisTokenPool"
            ? (context.package.directoryURL.appending(path: "Scripts/lua"), "LuaSource", "lua")
            : (target.directoryURL.appending(path: "Embedded"), "EmbeddedFile", nil)
        let prelude = fileExtension == "lua" ? directory.appending(path: "prelude.lua") : nil
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { (fileExtension == nil || $0.pathExtension == fileExtension) && $0.lastPathComponent != prelude?.lastPathComponent }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "\(enumName).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) files as \(enumName)",
                executable: try context.tool(named: "EmbedText").url,
                arguments: [output.path(), enumName] + (prelude.map { ["--prelude", $0.path()] } ?? []) + files.map { $0.path() },
                inputFiles: files + (prelude.map { [$0] } ?? []),
                outputFiles: [output]
            )
        ]
    }
}
