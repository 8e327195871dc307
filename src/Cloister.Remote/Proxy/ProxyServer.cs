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

    /// <remarks>
    /// Start-up is mostly the JIT compiling code the first time it runs, so the independent parts run side by side
    /// (docs/remote.md, "Load time"): the connection to the host (the Attach stream, then the session for host calls) is
    /// opened first, the server is built and started on another thread while this one loads and verifies the package,
    /// and the host learns the endpoint only when both are done.
    /// </remarks>
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
        var attachment = HoldAttachmentAsync(rendezvous, headers, lifetime.Token);
        _ = Task.Run(host.EnsureSession, lifetime.Token);
        var listen = _options.ListenAddress is { } given ? EndpointAddress.Parse(given, "--listen-address") : DefaultListenAddress(hostAddress);
        var serving = Task.Run(() => StartServerAsync(listen, lifetime.Token), lifetime.Token);
        try
        {
            await StartMetricsEndpointAsync(lifetime.Token).ConfigureAwait(false);
            _enclave = await LoadedEnclave.LoadAsync(_options.EnclaveName, _options.PackagePath, _options.ExpectedMeasurement, _options.Debug,
                _options.PackageLimits, CallHostAsync, _logger, lifetime.Token).ConfigureAwait(false);
            StartCallTelemetry(_enclave.Measurement);
            var app = await serving.ConfigureAwait(false);
            var bound = CommunicatorServers.BoundAddress(app);
            if (!await RegisterAsync(rendezvous, headers, bound.ToString(), _enclave.Measurement, loadError: null, lifetime.Token).ConfigureAwait(false))
            {
                return 1;
            }

            MarkServing();
            LogServing(_options.EnclaveName, bound.ToString(), Environment.ProcessId);
            if (await attachment.ConfigureAwait(false) is { } reason)
            {
                LogHostGone(_options.EnclaveName, reason);
            }
            else
            {
                LogShutdownRequested(_options.EnclaveName);
            }

            return 0;
        }
        catch (EnclaveException ex)
        {
            LogLoadFailed(_options.EnclaveName, ex.Message);
            await RegisterAsync(rendezvous, headers, endpoint: "", measurement: "", CommunicatorService.ToError(ex), lifetime.Token).ConfigureAwait(false);
            return 1;
        }
        finally
        {
            await lifetime.CancelAsync().ConfigureAwait(false);
            await attachment.ConfigureAwait(false);
            await StopServerAsync(serving, listen).ConfigureAwait(false);
            if (_enclave is not null)
            {
                await _enclave.DisposeAsync().ConfigureAwait(false);
            }

            LogStopped(_options.EnclaveName);
        }
    }

    private async Task<WebApplication> StartServerAsync(EndpointAddress listen, CancellationToken cancellationToken)
    {
        var app = BuildServer(listen);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            return app;
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StopServerAsync(Task<WebApplication> serving, EndpointAddress listen)
    {
        WebApplication? app = null;
        try
        {
            app = await serving.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // Never started: stopped before it was up, or the address was taken (reported where it was awaited).
        }

        if (app is not null)
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }

        // A socket path this proxy made up (DefaultListenAddress) is its own: it goes in every case, also when the
        // server was stopped after binding it but before it had started.
        if (listen.SocketPath is { } socket && _options.ListenAddress is null)
        {
            File.Delete(socket);
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

    /// <summary>
    /// Holds the host's Attach stream: its end, for whatever reason, is the end of this proxy. Opened first thing (the host
    /// accepts it by the session token alone), so the connection to the host is up by the time the proxy registers.
    /// </summary>
    /// <returns>Why the host went away, for the log; null when it destroyed the enclave.</returns>
    private async Task<string?> HoldAttachmentAsync(Rendezvous.RendezvousClient rendezvous, Metadata headers, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            using var attach = rendezvous.Attach(new AttachRequest { EnclaveName = _options.EnclaveName }, headers, cancellationToken: cancellationToken);
            await foreach (var hostEvent in attach.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (hostEvent.Shutdown)
                {
                    return null;
                }
            }

            return "the host closed the connection";
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return $"{ex.Status.StatusCode}: {ex.Status.Detail}";
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException && cancellationToken.IsCancellationRequested)
        {
            return "the proxy was told to stop";
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
        if (presented is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _token))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"This proxy serves enclave '{_options.EnclaveName}' for one host only; the call did not present its session token."));
        }

        // The server starts while the package is still loading; the host learns the endpoint only after both.
        return Volatile.Read(ref _enclave) is not null
            ? this
            : throw new RpcException(new Status(StatusCode.Unavailable, $"Enclave '{_options.EnclaveName}' is still loading; call once the proxy has registered."));
    }

    ValueTask<ReadOnlyMemory<byte>> ICallTarget.DispatchAsync(CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // Host calls the enclave makes while serving this call name it as their parent.
        CurrentEntryCall.Value = new EntryCallScope(header.CallId, WireTraceContext.Of(header));
        return InvokeEnclaveAsync(header, payload, cancellationToken);
    }

    private async ValueTask<ReadOnlyMemory<byte>> CallHostCoreAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new CallRequest
        {
            Selector = selector,
            CallId = (ulong)Interlocked.Increment(ref _nextHostCallId),
            ParentCallId = CurrentEntryCall.Value?.CallId ?? 0,
        };
        OutgoingTraceContext().WriteTo(header);
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
