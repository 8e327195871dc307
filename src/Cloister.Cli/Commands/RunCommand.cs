using System.CommandLine;
using Cloister.Remote;
using Google.Protobuf;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister run &lt;package&gt;</c>: loads a package, sends it one <see cref="EnclaveInput"/>, prints the
/// <see cref="EnclaveOutput"/> and destroys the enclave.
/// </summary>
internal sealed class RunCommand : Command
{
    private readonly Argument<string> _package = new("package")
    {
        Description = "The .cloister package to run.",
    };

    private readonly Option<string?> _name = new("--name")
    {
        Description = "The enclave's name in the host. Default: the package's file name without extension.",
    };

    private readonly Option<string?> _text = new("--text")
    {
        Description = "The input's text (EnclaveInput.text).",
    };

    private readonly Option<FileInfo?> _dataFile = new("--data-file")
    {
        Description = "A file whose bytes become the input's data (EnclaveInput.data).",
        HelpName = "path",
    };

    private readonly Option<string[]> _environment = EnvironmentOption.Create();

    private readonly Option<string?> _expectedMeasurement = new("--expected-measurement")
    {
        Description = "Refuse to run the package unless its measurement is this one (64 hex digits, from `cloister measure`).",
        HelpName = "hex",
    };

    private readonly Option<string> _backend = CommonOptions.CreateBackendOption();

    private readonly Option<FileInfo?> _remoteProxy = CommonOptions.CreateRemoteProxyOption();

    private readonly Option<string?> _provisionServer = CommonOptions.CreateProvisionServerOption();

    private readonly Option<string?> _provisionToken = CommonOptions.CreateProvisionTokenOption();

    private readonly SecurityCommandLine _security = new();

    private readonly Option<bool> _debug = new("--debug")
    {
        Description = "Load the enclave in debug mode: its errors carry the enclave's stack trace.",
    };

    /// <summary>Creates the command.</summary>
    public RunCommand()
        : base("run", "Load an enclave package, send it one input, print its output and destroy it.")
    {
        Arguments.Add(_package);
        Options.Add(_name);
        Options.Add(_text);
        Options.Add(_dataFile);
        Options.Add(_environment);
        Options.Add(_expectedMeasurement);
        Options.Add(_backend);
        Options.Add(_remoteProxy);
        Options.Add(_provisionServer);
        Options.Add(_provisionToken);
        Options.Add(_debug);
        _security.AddTo(this);
        this.SetCloisterAction(ExecuteAsync);
    }

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        var packagePath = parseResult.GetRequiredValue(_package);
        var config = new EnclaveLoadConfig
        {
            Name = parseResult.GetValue(_name) ?? Path.GetFileNameWithoutExtension(packagePath),
            PackagePath = packagePath,
            Backend = parseResult.GetRequiredValue(_backend),
            Debug = parseResult.GetValue(_debug),
            Config = new EnclaveConfig(),
        };
        config.Config.Environment.Add(EnvironmentOption.Parse(parseResult.GetValue(_environment)));
        if (parseResult.GetValue(_expectedMeasurement) is { } expected)
        {
            config.ExpectedMeasurement = expected;
        }

        var input = await CreateInputAsync(parseResult, cancellationToken);

        var options = new EnclaveManagerOptions
        {
            LoggerFactory = context.LoggerFactory,
            ConsoleOut = context.Out,
            ConsoleError = context.Error,
        };
        await using var backends = Backends.Configure(options, config.Backend, parseResult.GetValue(_remoteProxy), _security.Read(parseResult),
            parseResult.GetValue(_provisionServer) is { } server ? (server, parseResult.GetValue(_provisionToken)) : null);
        await using var manager = new EnclaveManager(options);
        var client = await manager.LoadEnclaveAsync(config, cancellationToken);
        var output = await client.EnterAndRunAsync(input, cancellationToken);
        await manager.DestroyEnclaveAsync(client, new EnclaveFinal { Reason = "cloister run is done." }, cancellationToken);

        if (output.HasText)
        {
            await context.Out.WriteLineAsync(output.Text);
        }

        if (output.HasData)
        {
            await context.Out.WriteLineAsync($"({output.Data.Length} bytes of data)");
        }

        return ExitCodes.Success;
    }

    private async Task<EnclaveInput> CreateInputAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var input = new EnclaveInput();
        if (parseResult.GetValue(_text) is { } text)
        {
            input.Text = text;
        }

        if (parseResult.GetValue(_dataFile) is { } dataFile)
        {
            if (!dataFile.Exists)
            {
                throw new EnclaveException(EnclaveStatusCode.NotFound, $"--data-file '{dataFile.FullName}' does not exist.");
            }

            input.Data = ByteString.CopyFrom(await File.ReadAllBytesAsync(dataFile.FullName, cancellationToken));
        }

        return input;
    }
}
