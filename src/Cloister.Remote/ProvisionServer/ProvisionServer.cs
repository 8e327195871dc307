using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// The provision server (<c>cloister provision-server</c>): a long-running daemon that receives enclave packages over
/// the wire, verifies them, runs a proxy for each, and cleans up process and files when the enclave is destroyed,
/// its host goes away, or its proxy dies. Hosts reach it with <see cref="RemoteProxyProvision"/>.
/// </summary>
public sealed partial class ProvisionServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ProvisionerService _service;
    private readonly string _workDirectory;
    private readonly bool _ownsWorkDirectory;
    private int _disposed;

    private ProvisionServer(WebApplication app, ProvisionerService service, EndpointAddress address, string workDirectory, bool ownsWorkDirectory)
    {
        _app = app;
        _service = service;
        Address = address.ToString();
        _workDirectory = workDirectory;
        _ownsWorkDirectory = ownsWorkDirectory;
    }

    /// <summary>Where the server listens, as bound.</summary>
    public string Address { get; }

    /// <summary>How many enclaves run now.</summary>
    public int RunningEnclaves => _service.Count;

    /// <summary>Starts a provision server.</summary>
    /// <exception cref="EnclaveException">The options are unsafe or invalid, or the address cannot be bound; the message says which.</exception>
    public static async Task<ProvisionServer> StartAsync(ProvisionServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        var logger = loggerFactory.CreateLogger<ProvisionServer>();
        var token = options.TokenFile is null ? null : await ReadTokenAsync(options.TokenFile, cancellationToken).ConfigureAwait(false);
        var listen = EndpointAddress.Parse(options.ListenAddress, "--listen-address");
        var ownsWork = options.WorkDirectory is null;
        var work = options.WorkDirectory ?? Directory.CreateTempSubdirectory("cloister-provision-").FullName;
        Directory.CreateDirectory(work);

        var service = new ProvisionerService(options, listen, work, token, loggerFactory);
        var builder = CommunicatorServers.CreateBuilder(listen, options.Security, loggerFactory);
        builder.Services.AddGrpcHealthChecks();
        builder.Services.AddSingleton(service);
        var app = builder.Build();
        app.MapGrpcService<ProvisionerService>();
        app.MapGrpcHealthChecksService();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"The provision server cannot listen on {options.ListenAddress}: {ex.Message}", ex);
        }

        var bound = CommunicatorServers.BoundAddress(app);
        var authentication = options.Security.Type == ChannelSecurityType.MutualTls ? "mutual TLS client certificates" : token is not null ? "a bearer token" : "NOTHING";
        if (token is null && options.Security.Type != ChannelSecurityType.MutualTls)
        {
            LogInsecure(logger, bound.ToString());
        }

        LogStarted(logger, bound.ToString(), ChannelSecurity.FormatType(options.Security.Type), authentication, work);
        return new ProvisionServer(app, service, bound, work, ownsWork);
    }

    /// <summary>Stops accepting, stops every enclave's proxy (they get <see cref="ProvisionServerOptions.ShutdownTimeout"/>), removes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _service.StopAllAsync().ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_ownsWorkDirectory && Directory.Exists(_workDirectory))
        {
            Directory.Delete(_workDirectory, recursive: true);
        }
    }

    private static async Task<string> ReadTokenAsync(string path, CancellationToken cancellationToken)
    {
        string token;
        try
        {
            token = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"--token-file '{path}' cannot be read: {ex.Message}");
        }

        return token.Length >= 16
            ? token
            : throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"--token-file '{path}' holds a token of {token.Length} characters; use at least 16 random ones (e.g. `openssl rand -hex 32`).");
    }

    internal static bool TokenMatches(string expected, string presented) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(presented));

    [LoggerMessage(400, LogLevel.Warning, "INSECURE: the provision server on {Address} authenticates NO ONE (--allow-insecure). Anyone who can reach it can run code on this machine.")]
    private static partial void LogInsecure(ILogger logger, string address);

    [LoggerMessage(401, LogLevel.Information, "Provision server listening on {Address} ({Security}), authenticating callers by {Authentication}; work folder {Work}")]
    private static partial void LogStarted(ILogger logger, string address, string security, string authentication, string work);
}
