using System.CommandLine;
using Cloister.Cli.IO;
using Cloister.Cli.Publishing;
using Microsoft.Extensions.Logging;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister pack &lt;folder-or-project&gt; -o &lt;package&gt;</c>: packs an enclave's publish folder into a
/// <c>.cloister</c> package; given a project file, publishes it first.
/// </summary>
internal sealed class PackCommand : Command
{
    private readonly Argument<string> _source = new("source")
    {
        Description = "The enclave's publish folder, or its project file (.csproj), which is published with `dotnet publish -c Release` first.",
    };

    private readonly Option<string> _output = new("--output", "-o")
    {
        Description = "The package file to write, e.g. hello.cloister.",
        Required = true,
        HelpName = "package",
    };

    private readonly Option<string?> _name = new("--name")
    {
        Description = "The application's name in the manifest. Default: the entry assembly's name.",
    };

    private readonly Option<string?> _entryAssembly = new("--entry-assembly")
    {
        Description = "The file name of the assembly holding the TrustedApplication, e.g. HelloEnclave.dll. Default: the one the folder's *.deps.json names.",
        HelpName = "file",
    };

    private readonly Option<string?> _entryType = new("--entry-type")
    {
        Description = "The full name of the TrustedApplication subclass. Default: the only one in the entry assembly.",
        HelpName = "type",
    };

    /// <summary>Creates the command.</summary>
    public PackCommand()
        : base("pack", "Pack an enclave's publish folder (or publish and pack its project) into a .cloister package.")
    {
        Arguments.Add(_source);
        Options.Add(_output);
        Options.Add(_name);
        Options.Add(_entryAssembly);
        Options.Add(_entryType);
        this.SetCloisterAction(ExecuteAsync);
    }

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        var source = parseResult.GetRequiredValue(_source);
        var packagePath = Path.GetFullPath(parseResult.GetRequiredValue(_output));
        var options = new PackageCreateOptions
        {
            Name = parseResult.GetValue(_name),
            EntryAssembly = parseResult.GetValue(_entryAssembly),
            EntryType = parseResult.GetValue(_entryType),
        };

        PackageContents contents;
        if (IsProjectFile(source))
        {
            using var publishFolder = TemporaryFolder.Create("publish", context.LoggerFactory.CreateLogger<TemporaryFolder>());
            await context.Out.WriteLineAsync($"Publishing {source} (Release)...");
            var publisher = new ProjectPublisher(context.LoggerFactory.CreateLogger<ProjectPublisher>());
            await publisher.PublishAsync(Path.GetFullPath(source), publishFolder.Path, context.Error, cancellationToken);
            contents = await EnclavePackage.CreateAsync(publishFolder.Path, packagePath, options, cancellationToken);
        }
        else
        {
            CheckIsPublishFolder(source);
            contents = await EnclavePackage.CreateAsync(source, packagePath, options, cancellationToken);
        }

        await context.Out.WriteLineAsync($"Packed {packagePath}");
        await context.Out.WriteLineAsync($"  entry type:  {contents.Manifest.EntryType} ({contents.Manifest.EntryAssembly})");
        await context.Out.WriteLineAsync($"  files:       {contents.Files.Count}");
        await context.Out.WriteLineAsync($"  measurement: {contents.Measurement}");
        return ExitCodes.Success;
    }

    private static bool IsProjectFile(string source) =>
        File.Exists(source) && Path.GetExtension(source).EndsWith("proj", StringComparison.OrdinalIgnoreCase);

    /// <summary>Turns the two usual mistakes into errors that say what to pass instead.</summary>
    private static void CheckIsPublishFolder(string source)
    {
        if (File.Exists(source))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"'{source}' is a file; pack a publish folder, or a project file (.csproj) to publish and pack.");
        }

        if (!Directory.Exists(source))
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound,
                $"'{source}' does not exist; pack the output folder of `dotnet publish`, or the enclave's .csproj.");
        }

        var projects = Directory.GetFiles(source, "*.csproj");
        if (projects.Length == 1 && Directory.GetFiles(source, "*.deps.json").Length == 0)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"'{source}' is a project folder, not publish output; pass the project file instead: cloister pack {projects[0]} -o <package>.");
        }
    }
}
