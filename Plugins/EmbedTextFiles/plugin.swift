import Foundation
import PackagePlugin

/// Embeds text files into a target as Swift string constants, so the binary never needs the
/// repository at run time while the files stay the single source:
/// - `RedisTokenPool`: every `Scripts/lua/*.lua`, `prelude.lua` included, as `enum LuaSource`
///   (`PoolScript` makes the library and the scripts of them);
/// - any other target: every file in its `Embedded/` folder (the OpenAPI document, doc pages), as `enum EmbeddedFile`.
@main
struct EmbedTextFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let (directory, enumName, fileExtension): (URL, String, String?) =
            target.name == "RedisTokenPool"
            ? (context.package.directoryURL.appending(path: "Scripts/lua"), "LuaSource", "lua")
            : (target.directoryURL.appending(path: "Embedded"), "EmbeddedFile", nil)
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { fileExtension == nil || $0.pathExtension == fileExtension }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "\(enumName).swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) files as \(enumName)",
                executable: try context.tool(named: "EmbedText").url,
                arguments: [output.path(), enumName] + files.map { $0.path() },
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
