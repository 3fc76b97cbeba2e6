import ArgumentParser
import TokenAPI
import TokenPoolCLI

/// `tokenpool`: the server (`serve`, from TokenAPI) and the client commands (TokenPoolCLI) under one name.
@main
struct TokenPoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenpool",
        abstract: "Hands out tokens from a shared pool kept in Redis.",
        subcommands: [
            ServeCommand.self, KeysCommand.self, GenerateCommand.self, AssignCommand.self, KeepAliveCommand.self, UnblockCommand.self, DisableCommand.self, EnableCommand.self,
            DeleteCommand.self, StatsCommand.self, WaitersCommand.self, HoldCommand.self, ListCommand.self, PoolsCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )

    /// `tokenpool --port 8080` is `tokenpool serve --port 8080`: serve reads its options from its
    /// own table, so they are handed to it by name.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, first.hasPrefix("--"), !["--help", "--version", "--generate-completion-script"].contains(first) {
            arguments.insert("serve", at: 0)
        }
        await Self.main(arguments)
    }
}
