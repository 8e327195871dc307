using System.Security.Cryptography;
using System.Text;
using Cloister.Remote.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// Hosts exactly one enclave in this process for a remote host: loads and verifies the package, serves entry calls over
/// the communicator, sends the enclave's host calls back, and exits when the host lets go or disappears.
/// </summary>
public sealed partial class ProxyServer : ICallDispatcher, ICallTarget
{
    private static readonly AsyncLocal<EntryCallScope?> CurrentEntryCall = new();
    private readonly ProxyServerOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly byte[] _token;
    private LoadedEnclave? _enclave;
    private CommunicatorCaller? _host;
    private long _nextHostCallId;

    private ProxyServer(ProxyServerOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ProxyServer>();
        _token = Encoding.UTF8.GetBytes(options.SessionToken);
    }

    /// <summary>
    /// Runs the proxy until the host destroys the enclave, the host goes away, or <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <returns>The process exit code: 0 after an orderly end, 1 when the enclave could not be loaded or the host refused it.</returns>
    public static async Task<int> RunAsync(ProxyServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options.Validate();
        var server = new ProxyServer(options, loggerFactory);
        try
        {
            return await server.RunCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await server.StopTelemetryAsync().ConfigureAwait(false);
        }
    }

    private async Task<int> RunCoreAsync(CancellationToken cancellationToken)
    {
        var hostAddress = EndpointAddress.Parse(_options.ClientAddress, "--client-address");
        using var hostChannel = hostAddress.CreateChannel(_options.Security);
        using var host = new CommunicatorCaller(new Communicator.CommunicatorClient(hostChannel), _options.SessionToken);
        _host = host;
        var rendezvous = new Rendezvous.RendezvousClient(hostChannel);
        var headers = new Metadata { { CommunicatorLimits.SessionHeader, _options.SessionToken } };
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var parentWatch = WatchParent(lifetime);

        try
        {
            await StartMetricsEndpointAsync(lifetime.Token).ConfigureAwait(false);
            _enclave = await LoadedEnclave.LoadAsync(_options.EnclaveName, _options.PackagePath, _options.ExpectedMeasurement, _options.Debug,
                _options.PackageLimits, CallHostAsync, _logger, lifetime.Token).ConfigureAwait(false);
        }
        catch (EnclaveException ex)
        {
            LogLoadFailed(_options.EnclaveName, ex.Message);
            await RegisterAsync(rendezvous, headers, endpoint: "", measurement: "", CommunicatorService.ToError(ex), lifetime.Token).ConfigureAwait(false);
            return 1;
        }

        StartCallTelemetry(_enclave.Measurement);
        var listen = _options.ListenAddress is { } given ? EndpointAddress.Parse(given, "--listen-address") : DefaultListenAddress(hostAddress);
        var app = BuildServer(listen);
        await using var appScope = app.ConfigureAwait(false);
        try
        {
            await app.StartAsync(lifetime.Token).ConfigureAwait(false);
            var bound = CommunicatorServers.BoundAddress(app);
            if (!await RegisterAsync(rendezvous, headers, bound.ToString(), _enclave.Measurement, loadError: null, lifetime.Token).ConfigureAwait(false))
            {
                return 1;
            }

            MarkServing();
            LogServing(_options.EnclaveName, bound.ToString(), Environment.ProcessId);
            await HoldAttachmentAsync(rendezvous, headers, lifetime.Token).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            await lifetime.CancelAsync().ConfigureAwait(false);
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await _enclave.DisposeAsync().ConfigureAwait(false);
            if (listen.SocketPath is { } socket && _options.ListenAddress is null)
            {
                File.Delete(socket);
            }

            LogStopped(_options.EnclaveName);
        }
    }

    private WebApplication BuildServer(EndpointAddress listen)
    {
        var builder = CommunicatorServers.CreateBuilder(listen, _options.Security, _loggerFactory);
        builder.Services.AddSingleton(new CommunicatorService(this));
        AddHealth(builder.Services);
        var app = builder.Build();
        app.MapGrpcService<CommunicatorService>();
        MapHealth(app);
        return app;
    }

    private async Task<bool> RegisterAsync(Rendezvous.RendezvousClient rendezvous, Metadata headers, string endpoint, string measurement, Error? loadError, CancellationToken cancellationToken)
    {
        var request = new RegisterRequest
        {
            ProtocolVersion = CommunicatorLimits.ProtocolVersion,
            EnclaveName = _options.EnclaveName,
            SessionToken = _options.SessionToken,
            Endpoint = endpoint,
            Measurement = measurement,
            ProcessId = Environment.ProcessId,
            LoadError = loadError,
            MetricsEndpoint = _metrics?.MetricsUrl.ToString() ?? string.Empty,
        };
        try
        {
            await rendezvous.RegisterAsync(request, headers, DateTime.UtcNow.AddSeconds(30), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RpcException ex)
        {
            LogRegisterFailed(_options.EnclaveName, _options.ClientAddress, ex.Status.StatusCode.ToString(), ex.Status.Detail);
            return false;
        }
    }

    /// <summary>Holds the host's Attach stream: its end, for whatever reason, is the end of this proxy.</summary>
    private async Task HoldAttachmentAsync(Rendezvous.RendezvousClient rendezvous, Metadata headers, CancellationToken cancellationToken)
    {
        try
        {
            using var attach = rendezvous.Attach(new AttachRequest { EnclaveName = _options.EnclaveName }, headers, cancellationToken: cancellationToken);
            await foreach (var hostEvent in attach.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (hostEvent.Shutdown)
                {
                    LogShutdownRequested(_options.EnclaveName);
                    return;
                }
            }

            LogHostGone(_options.EnclaveName, "the host closed the connection");
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogHostGone(_options.EnclaveName, $"{ex.Status.StatusCode}: {ex.Status.Detail}");
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException && cancellationToken.IsCancellationRequested)
        {
            LogHostGone(_options.EnclaveName, "the proxy was told to stop");
        }
    }

    private IDisposable? WatchParent(CancellationTokenSource lifetime)
    {
        if (_options.ParentProcessId is not { } pid)
        {
            return null;
        }

        return new Timer(_ =>
        {
            if (!IsAlive(pid))
            {
                LogHostGone(_options.EnclaveName, $"parent process {pid} exited");
                lifetime.Cancel();
            }
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        static bool IsAlive(int pid)
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                return !process.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }
    }

    ICallTarget ICallDispatcher.Accept(ServerCallContext context)
    {
        var presented = context.RequestHeaders.GetValue(CommunicatorLimits.SessionHeader);
        return presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _token)
            ? this
            : throw new RpcException(new Status(StatusCode.Unauthenticated, $"This proxy serves enclave '{_options.EnclaveName}' for one host only; the call did not present its session token."));
    }

    ValueTask<ReadOnlyMemory<byte>> ICallTarget.DispatchAsync(CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // Host calls the enclave makes while serving this call name it as their parent.
        CurrentEntryCall.Value = new EntryCallScope(header.CallId, header.Traceparent);
        return InvokeEnclaveAsync(header, payload, cancellationToken);
    }

    private async ValueTask<ReadOnlyMemory<byte>> CallHostCoreAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new CallRequest
        {
            Selector = selector,
            CallId = (ulong)Interlocked.Increment(ref _nextHostCallId),
            ParentCallId = CurrentEntryCall.Value?.CallId ?? 0,
            Traceparent = OutgoingTraceParent(),
        };
        try
        {
            return await _host!.CallAsync(header, payload, deadline: null, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new EnclaveException(EnclaveStatusCode.Cancelled, $"Host call '{selector}' was cancelled.", ex);
        }
        catch (RpcException ex)
        {
            throw new EnclaveException(EnclaveStatusCode.Unavailable, $"Host call '{selector}' of enclave '{_options.EnclaveName}' failed: the host is unreachable ({ex.Status.StatusCode}: {ex.Status.Detail}).", ex);
        }
    }

    private static EndpointAddress DefaultListenAddress(EndpointAddress host) => host switch
    {
        { IsUnixSocket: true } => EndpointAddress.Unix(Path.Combine(Path.GetTempPath(), $"cloister-proxy-{Environment.ProcessId}-{Guid.NewGuid():N}.sock")),
        { Host: { } h } when h.Contains(':') => EndpointAddress.Tcp("::1", 0),
        _ => EndpointAddress.Tcp("127.0.0.1", 0),
    };

    [LoggerMessage(200, LogLevel.Error, "Enclave '{Name}' could not be loaded: {Reason}")]
    private partial void LogLoadFailed(string name, string reason);

    [LoggerMessage(201, LogLevel.Information, "Proxy for enclave '{Name}' serving on {Endpoint} (pid {Pid})")]
    private partial void LogServing(string name, string endpoint, int pid);

    [LoggerMessage(202, LogLevel.Error, "The host at {Address} refused enclave '{Name}': {Code} {Detail}")]
    private partial void LogRegisterFailedCore(string address, string name, string code, string detail);

    private void LogRegisterFailed(string name, string address, string code, string detail) => LogRegisterFailedCore(address, name, code, detail);

    [LoggerMessage(203, LogLevel.Information, "The host destroyed enclave '{Name}'; the proxy exits")]
    private partial void LogShutdownRequested(string name);

    [LoggerMessage(204, LogLevel.Warning, "The host of enclave '{Name}' is gone ({Reason}); the proxy exits")]
    private partial void LogHostGone(string name, string reason);

    [LoggerMessage(205, LogLevel.Information, "Proxy for enclave '{Name}' stopped")]
    private partial void LogStopped(string name);
}
