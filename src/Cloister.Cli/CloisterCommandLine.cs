using System.CommandLine;
using System.CommandLine.Invocation;
using Cloister.Cli.Commands;

namespace Cloister.Cli;

/// <summary>The <c>cloister</c> command line: its commands and how a command line is run.</summary>
internal static class CloisterCommandLine
{
    /// <summary>Creates the root command with every subcommand.</summary>
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("cloister: pack, measure and run Cloister enclave packages.");
        root.Options.Add(CommonOptions.Verbose);
        root.Subcommands.Add(new PackCommand());
        root.Subcommands.Add(new MeasureCommand());
        root.Subcommands.Add(new RunCommand());
        root.Subcommands.Add(new DemoCommand());
        root.Subcommands.Add(Cloister.Remote.ProxyCommand.Create());
        root.Subcommands.Add(new StatusCommand());
        root.Subcommands.Add(new CertsCommand());
        root.Subcommands.Add(Cloister.Remote.ProvisionServerCommand.Create());
        root.Subcommands.Add(ProvisionClientCommands.CreatePs());
        root.Subcommands.Add(ProvisionClientCommands.CreateKill());
        return root;
    }

    /// <summary>Parses and runs a command line; returns the process exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> InvokeAsync(string[] args)
    {
        // No response files (`@file`): `cloister proxy` runs with arguments a remote caller chose (see ProxyCommand).
        var parseResult = CreateRootCommand().Parse(args, Cloister.Remote.ProxyCommand.ParserConfiguration);
        if (parseResult.Action is ParseErrorAction parseError && parseResult.CommandResult.Command is not RootCommand)
        {
            // A mistake in a subcommand's arguments: the error alone says more than the error under a page of help.
            parseError.ShowHelp = false;
        }

        var exitCode = await parseResult.InvokeAsync();
        return parseResult.Errors.Count > 0 ? ExitCodes.UsageError : exitCode;
    }
}
