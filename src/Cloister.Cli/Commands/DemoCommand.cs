using System.CommandLine;
using Cloister.Cli.IO;
using Cloister.Cli.Output;
using Microsoft.Extensions.Logging;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister demo</c>: the whole life of an enclave with nothing to set up. Packs the HelloEnclave example that
/// ships with the tool, loads it, calls it three times and destroys it, narrating each step.
/// </summary>
internal sealed class DemoCommand : Command
{
    private const string Greeting = "Bonjour";
    private static readonly string[] Names = ["Alice", "Bob", "Carol"];

    private readonly Option<string> _backend = CommonOptions.CreateBackendOption();

    private readonly Option<FileInfo?> _remoteProxy = CommonOptions.CreateRemoteProxyOption();

    private readonly Option<string?> _provisionServer = CommonOptions.CreateProvisionServerOption();

    private readonly Option<string?> _provisionToken = CommonOptions.CreateProvisionTokenOption();

    private readonly Cloister.Remote.SecurityCommandLine _security = new();

    /// <summary>Creates the command.</summary>
    public DemoCommand()
        : base("demo", "Pack, load, call and destroy the HelloEnclave example, showing each step. Needs no setup.")
    {
        Options.Add(_backend);
        Options.Add(_remoteProxy);
        Options.Add(_provisionServer);
        Options.Add(_provisionToken);
        _security.AddTo(this);
        this.SetCloisterAction(ExecuteAsync);
    }

    /// <summary>Where the build puts HelloEnclave's output, next to the tool (see Cloister.Cli.csproj).</summary>
    private static string EnclaveFolder => Path.Combine(AppContext.BaseDirectory, "enclaves", "HelloEnclave");

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(EnclaveFolder))
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound,
                $"The demo enclave is missing: '{EnclaveFolder}' does not exist. Build src/Cloister.Cli, which copies examples/HelloEnclave's output there.");
        }

        var output = context.Out;
        var backend = parseResult.GetRequiredValue(_backend);
        await output.WriteLineAsync(backend == SimBackend.BackendName
            ? $"""
            Cloister demo: the HelloEnclave example on the '{backend}' backend.

              The sim backend runs the enclave inside this process and gives NO isolation: the host can read
              and change everything the enclave holds. It is for development and tests, never for secrets.

            """
            : $"""
            Cloister demo: the HelloEnclave example on the '{backend}' backend.

              The remote backend runs the enclave in its own proxy process and reaches it over gRPC (here a
              Unix socket): a process boundary, not a hardware enclave, and nothing attests the proxy's code.

            """);

        using (var temporary = TemporaryFolder.Create("demo", context.LoggerFactory.CreateLogger<TemporaryFolder>()))
        {
            var provisionServer = parseResult.GetValue(_provisionServer) is { } server ? (server, parseResult.GetValue(_provisionToken)) : ((string, string?)?)null;
            await RunDemoAsync(context, backend, parseResult.GetValue(_remoteProxy), _security.Read(parseResult), provisionServer, temporary.Path, cancellationToken);
        }

        await output.WriteLineAsync("""
            6. Deleted the package and the greeting file.

            Run `cloister demo --verbose` to also see the logs the enclave forwards to the host.
            Next: read examples/HelloEnclave/, then write your own enclave with docs/getting-started.md.
            """);
        return ExitCodes.Success;
    }

    private static async Task RunDemoAsync(CommandContext context, string backend, FileInfo? remoteProxy, Cloister.Remote.ChannelSecurity security, (string, string?)? provisionServer, string folder, CancellationToken cancellationToken)
    {
        var output = context.Out;

        var packagePath = Path.Combine(folder, "HelloEnclave.cloister");
        var contents = await EnclavePackage.CreateAsync(EnclaveFolder, packagePath, cancellationToken: cancellationToken);
        await output.WriteLineAsync($"""
            1. Packed the example's build output {EnclaveFolder}
               into {packagePath}
               ({contents.Files.Count} files, entry type {contents.Manifest.EntryType}). Its measurement, the SHA-256
               of its files, which `cloister measure` prints too:
               {contents.Measurement}
            """);

        var greetingPath = Path.Combine(folder, "greeting.txt");
        await File.WriteAllTextAsync(greetingPath, Greeting, cancellationToken);
        await output.WriteLineAsync($"""
            2. Wrote the greeting word "{Greeting}" to the host file {greetingPath}.
               The enclave has no file system: it will ask the host for this file through a host call.
            """);

        // Text the enclave writes to the host console arrives through a host call; mark it so it can be told apart.
        var options = new EnclaveManagerOptions
        {
            LoggerFactory = context.LoggerFactory,
            ConsoleOut = new LinePrefixWriter(output, "   enclave console  > "),
        };
        await using var backends = Backends.Configure(options, backend, remoteProxy, security, provisionServer);
        await using var manager = new EnclaveManager(options);
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = "hello",
            PackagePath = packagePath,
            Backend = backend,
            ExpectedMeasurement = contents.Measurement,
            Config = new EnclaveConfig { Environment = { ["GREETING_FILE"] = greetingPath } },
        }, cancellationToken);
        await output.WriteLineAsync($"""
            3. Loaded it as enclave '{client.Name}' on the '{client.Backend}' backend, after checking its measurement,
               with GREETING_FILE={greetingPath} in its environment.
            4. Sent it three inputs; each greeting reaches the host console through a host call, then comes back
               as the call's output:
            """);

        foreach (var name in Names)
        {
            await output.WriteLineAsync($"   host sends       > {name}");
            var result = await client.EnterAndRunAsync(new EnclaveInput { Text = name }, cancellationToken);
            await output.WriteLineAsync($"   enclave returned > {result.Text}");
        }

        await manager.DestroyEnclaveAsync(client, new EnclaveFinal { Reason = "The demo is over." }, cancellationToken);
        await output.WriteLineAsync($"5. Destroyed enclave '{client.Name}'.");
    }
}
