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
    private readonly ServingHealth _health;
    private readonly ProvisionServerMetrics _metrics;
    private readonly MetricsEndpoint? _metricsEndpoint;
    private readonly string _workDirectory;
    private readonly bool _ownsWorkDirectory;
    private int _disposed;

    private ProvisionServer(WebApplication app, ProvisionerService service, ServingHealth health, ProvisionServerMetrics metrics, MetricsEndpoint? metricsEndpoint,
        EndpointAddress address, string workDirectory, bool ownsWorkDirectory)
    {
        _app = app;
        _service = service;
        _health = health;
        _metrics = metrics;
        _metricsEndpoint = metricsEndpoint;
        Address = address.ToString();
        _workDirectory = workDirectory;
        _ownsWorkDirectory = ownsWorkDirectory;
    }

    /// <summary>Where the server listens, as bound.</summary>
    public string Address { get; }

    /// <summary>
    /// The Prometheus scrape URL when <see cref="ProvisionServerOptions.MetricsPort"/> asked for a metrics endpoint (port 0
    /// resolved), e.g. <c>http://127.0.0.1:9465/metrics</c>; else <see langword="null"/>.
    /// </summary>
    public string? MetricsUrl => _metricsEndpoint?.MetricsUrl.ToString();

    /// <summary>
    /// The path, on the metrics port, of the running proxies' metrics endpoints in the format of Prometheus's HTTP service
    /// discovery (<c>http_sd_configs</c>). When the server serves metrics, every proxy it starts serves its own.
    /// </summary>
    public const string ScrapeTargetsPath = "/proxies";

    /// <summary>
    /// Where Prometheus discovers the proxies' metrics endpoints (<see cref="ScrapeTargetsPath"/>), e.g.
    /// <c>http://127.0.0.1:9470/proxies</c>, when <see cref="ProvisionServerOptions.MetricsPort"/> asked for metrics; else
    /// <see langword="null"/>.
    /// </summary>
    public string? ScrapeTargetsUrl => _metricsEndpoint is { } endpoint ? new Uri(endpoint.BaseAddress, ScrapeTargetsPath).ToString() : null;

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

        // The figures and the metrics endpoint come first, so that the server is measured from its first call.
        var health = new ServingHealth(ServingHealth.ProvisionerService);
        health.SetNotServing("starting");
        var metrics = new ProvisionServerMetrics();
        MetricsEndpoint? metricsEndpoint = null;
        WebApplication? app = null;
        try
        {
            var service = new ProvisionerService(options, listen, work, token, metrics, loggerFactory);
            if (options.MetricsPort is { } metricsPort)
            {
                metricsEndpoint = await MetricsEndpoint.StartAsync(options.MetricsAddress, metricsPort, health, loggerFactory, cancellationToken,
                    map: endpoint => endpoint.MapGet(ScrapeTargetsPath, service.WriteScrapeTargetsAsync)).ConfigureAwait(false);
            }

            var builder = CommunicatorServers.CreateBuilder(listen, options.Security, loggerFactory);
            health.AddTo(builder.Services);
            builder.Services.AddSingleton(service);
            app = builder.Build();
            app.MapGrpcService<ProvisionerService>();
            ServingHealth.Map(app);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"The provision server cannot listen on {options.ListenAddress}: {ex.Message}", ex);
            }

            var server = new ProvisionServer(app, service, health, metrics, metricsEndpoint, CommunicatorServers.BoundAddress(app), work, ownsWork);
            server.Started(logger, options, token is not null);
            return server;
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }

            if (metricsEndpoint is not null)
            {
                await metricsEndpoint.DisposeAsync().ConfigureAwait(false);
            }

            metrics.Dispose();
            if (ownsWork)
            {
                Directory.Delete(work, recursive: true);
            }

            throw;
        }
    }

    private void Started(ILogger logger, ProvisionServerOptions options, bool hasToken)
    {
        var bound = Address;
        var authentication = options.Security.Type == ChannelSecurityType.MutualTls ? "mutual TLS client certificates" : hasToken ? "a bearer token" : "NOTHING";
        if (!hasToken && options.Security.Type != ChannelSecurityType.MutualTls)
        {
            LogInsecure(logger, bound);
        }

        LogStarted(logger, bound, ChannelSecurity.FormatType(options.Security.Type), authentication, _workDirectory);
        if (MetricsUrl is { } metricsUrl)
        {
            LogMetrics(logger, metricsUrl, ScrapeTargetsUrl!);
        }

        _health.SetServing($"provision server on {bound}");
    }

    /// <summary>Stops accepting, stops every enclave's proxy (they get <see cref="ProvisionServerOptions.ShutdownTimeout"/>), removes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _health.SetNotServing("stopping");
        await _service.StopAllAsync().ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_metricsEndpoint is not null)
        {
            await _metricsEndpoint.DisposeAsync().ConfigureAwait(false);
        }

        _metrics.Dispose();
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

    [LoggerMessage(402, LogLevel.Information, "Provision server serves metrics at {Url} (and grpc.health.v1 over gRPC-Web); its proxies' metrics endpoints are listed for Prometheus at {TargetsUrl}")]
    private static partial void LogMetrics(ILogger logger, string url, string targetsUrl);
}
