using System.Diagnostics;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// The <c>remote</c> backend: each enclave runs in its own proxy process, on this machine or another one, and every
/// entry call and host call crosses a gRPC channel. Add it to <see cref="EnclaveManagerOptions.Backends"/> and load with
/// <c>Backend = "remote"</c>; the host code is otherwise the same as with <c>sim</c>.
/// </summary>
/// <remarks>
/// Loading is: the host listens (one communicator server per backend), provisions the proxy with the host's address,
/// the proxy verifies and loads the package, starts its own server and reports its endpoint, then Initialize runs
/// through it. Disposing the backend stops the host's server; destroy the enclaves first (the manager does).
/// </remarks>
public sealed partial class RemoteBackend : EnclaveBackend, IAsyncDisposable
{
    /// <summary>The backend's name, <c>remote</c>.</summary>
    public const string BackendName = "remote";

    private readonly RemoteProxyConfig _config;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private CommunicatorHost? _host;

    /// <summary>Creates the backend.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public RemoteBackend(RemoteProxyConfig? config = null)
    {
        _config = config ?? new RemoteProxyConfig();
        _config.Validate();
    }

    /// <inheritdoc />
    public override string Name => BackendName;

    /// <summary>Where the host's communicator listens, once the first enclave was loaded.</summary>
    public string? HostAddress => _host?.Address.ToString();

    /// <inheritdoc />
    public override async ValueTask<EnclaveTransport> OpenAsync(EnclaveOpenRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var logger = request.LoggerFactory.CreateLogger<RemoteBackend>();
        var host = await EnsureHostAsync(request.LoggerFactory, cancellationToken).ConfigureAwait(false);
        var load = request.LoadConfig;
        var remote = load.HasExtension(RemoteLoadConfigExtensions.RemoteLoadConfig) ? load.GetExtension(RemoteLoadConfigExtensions.RemoteLoadConfig) : null;
        var timeout = remote is { HasConnectTimeoutMs: true } ? TimeSpan.FromMilliseconds(remote.ConnectTimeoutMs) : _config.ConnectTimeout;

        var provisionRequest = new ProxyProvisionRequest
        {
            EnclaveName = request.Name,
            PackagePath = load.PackagePath,
            ClientAddress = host.Address.ToString(),
            SessionToken = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ExpectedMeasurement = load.HasExpectedMeasurement ? load.ExpectedMeasurement : null,
            Debug = load.Debug,
            Security = _config.Security,
            MetricsPort = _config.ProxyMetricsPort,
            MetricsAddress = _config.ProxyMetricsAddress,
            Telemetry = request.Telemetry,
        };
        var provision = _config.Provision?.Invoke(provisionRequest) ?? CreateProvision(remote, request.LoggerFactory);
        var client = new ProxyClient(request, _config, host, provision, provisionRequest.SessionToken);
        host.Add(client);
        var started = Environment.TickCount64;
        try
        {
            var stage = Stopwatch.GetTimestamp();
            await provision.ProvisionAsync(provisionRequest, cancellationToken).ConfigureAwait(false);
            // Through a provision server the upload is a stage of its own (RemoteProxyProvision records it); spawning
            // the proxy starts once the server has the whole package.
            CloisterTelemetry.RecordStage(request.Telemetry, ProvisionStages.Spawn,
                provision is RemoteProxyProvision { UploadedTimestamp: > 0 and var uploaded } ? uploaded : stage);
            stage = Stopwatch.GetTimestamp();
            var registration = await WaitForRegistrationAsync(client, timeout, cancellationToken).ConfigureAwait(false);
            client.Connect(registration);
            CloisterTelemetry.RecordStage(request.Telemetry, ProvisionStages.Connect, stage);
            LogConnected(logger, request.Name, client.Endpoint!, registration.ProcessId, Environment.TickCount64 - started);
            if (client.MetricsEndpoint is { } metrics)
            {
                LogProxyMetrics(logger, request.Name, metrics);
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A provision server when the config or the load names one, else a local proxy.</summary>
    private IRemoteProvision CreateProvision(RemoteLoadConfig? remote, ILoggerFactory loggerFactory)
    {
        var server = _config.ProvisionServer;
        if (remote is { HasProvisionServer: true } && remote.ProvisionServer.Length > 0)
        {
            server = new RemoteProvisionOptions
            {
                ServerAddress = remote.ProvisionServer,
                Security = server?.Security,
                BearerToken = server?.BearerToken,
                Progress = server?.Progress,
                UploadRetries = server?.UploadRetries ?? 2,
            };
        }

        return server is null
            ? new LocalProxyProvision(_config.LocalProxy, loggerFactory)
            : new RemoteProxyProvision(server, _config.Security, loggerFactory);
    }

    private static async Task<Protocol.RegisterRequest> WaitForRegistrationAsync(ProxyClient client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var registered = client.Registration;
        var exited = client.Provision.Exited;
        var first = await Task.WhenAny(registered, exited, Task.Delay(timeout, cancellationToken)).ConfigureAwait(false);
        if (first == registered || registered.IsCompleted)
        {
            return await registered.ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var recent = client.Provision.RecentOutput;
        var output = recent.Length > 0 ? $" Its last output:{Environment.NewLine}{recent}" : string.Empty;
        if (first == exited)
        {
            throw new EnclaveException(EnclaveStatusCode.Unavailable,
                $"The proxy for enclave '{client.Name}' exited with {exited.Result} before it reported in.{output}");
        }

        throw new EnclaveException(EnclaveStatusCode.DeadlineExceeded,
            $"The proxy for enclave '{client.Name}' did not report in within {timeout.TotalSeconds:0.#} s (RemoteProxyConfig.ConnectTimeout); it was stopped.{output}");
    }

    private async ValueTask<CommunicatorHost> EnsureHostAsync(ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _host) is { } host)
        {
            return host;
        }

        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _host ??= await CommunicatorHost.StartAsync(_config.HostAddress, _config.Security, loggerFactory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _startLock.Release();
        }
    }

    /// <summary>Stops the host's communicator server.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _host, null) is { } host)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }

        _startLock.Dispose();
    }

    [LoggerMessage(311, LogLevel.Information, "Proxy of enclave '{Name}' serves metrics at {Url} (an address of the proxy's machine)")]
    private static partial void LogProxyMetrics(ILogger logger, string name, string url);

    [LoggerMessage(310, LogLevel.Information, "Proxy of enclave '{Name}' reported in from {Endpoint} (pid {Pid}) after {Milliseconds} ms")]
    private static partial void LogConnected(ILogger logger, string name, string endpoint, int pid, long milliseconds);
}
