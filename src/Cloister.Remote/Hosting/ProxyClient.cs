using System.Collections.Concurrent;
using Cloister.Remote.Protocol;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// The host's transport to one remote enclave: entry calls go to its proxy over the communicator; host calls from the
/// proxy are run here, in the async context of the entry call they were made from.
/// </summary>
internal sealed partial class ProxyClient : EnclaveTransport, ICallTarget
{
    private readonly EnclaveOpenRequest _request;
    private readonly RemoteProxyConfig _config;
    private readonly CommunicatorHost _host;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<RegisterRequest> _registration = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ulong, EntryCall> _calls = new();
    private GrpcChannel? _channel;
    private CommunicatorCaller? _caller;
    private long _nextCallId;
    private int _disposed;

    public ProxyClient(EnclaveOpenRequest request, RemoteProxyConfig config, CommunicatorHost host, IRemoteProvision provision, string sessionToken)
    {
        _request = request;
        _config = config;
        _host = host;
        Provision = provision;
        SessionToken = sessionToken;
        _logger = request.LoggerFactory.CreateLogger<ProxyClient>();
    }

    public string Name => _request.Name;

    public string SessionToken { get; }

    public IRemoteProvision Provision { get; }

    public Task<RegisterRequest> Registration => _registration.Task;

    public override string Measurement => _registration.Task.IsCompletedSuccessfully ? _registration.Task.Result.Measurement : string.Empty;

    public string? Endpoint { get; private set; }

    /// <summary>Where the proxy serves Prometheus metrics and health, when it was started with a metrics port.</summary>
    public string? MetricsEndpoint => _registration.Task.IsCompletedSuccessfully && _registration.Task.Result.MetricsEndpoint.Length > 0
        ? _registration.Task.Result.MetricsEndpoint
        : null;

    public bool TokenMatches(string token) => CommunicatorHost.FixedTimeEquals(token, SessionToken);

    public void CompleteRegistration(RegisterRequest request)
    {
        if (request.LoadError is { } error)
        {
            _registration.TrySetException(CommunicatorCaller.FromError(error));
        }
        else
        {
            _registration.TrySetResult(request);
        }
    }

    public void FailRegistration(EnclaveException exception) => _registration.TrySetException(exception);

    /// <summary>Opens the channel to the proxy's endpoint once it has reported in.</summary>
    public void Connect(RegisterRequest registration)
    {
        var endpoint = EndpointAddress.Parse(registration.Endpoint, $"endpoint reported by the proxy of '{Name}'");
        if (endpoint.IsUnspecified)
        {
            // The proxy listens on every interface of its machine; reach it where its provisioning is reached.
            endpoint = EndpointAddress.Tcp(Provision.ProxyHost ?? "127.0.0.1", endpoint.Port);
        }

        Endpoint = endpoint.ToString();
        _channel = endpoint.CreateChannel(_config.Security);
        _caller = new CommunicatorCaller(new Communicator.CommunicatorClient(_channel), SessionToken);
    }

    /// <summary>Entry calls are measured here, in the call's own async method, not wrapped in another by the client.</summary>
    internal override bool ObservesCalls => true;

    public override async ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken)
    {
        var caller = _caller ?? throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"Enclave '{Name}' is not connected.");

        // Started before the context is captured: host calls made under this call then run under its span.
        CallObservation? observation = CloisterTelemetry.IsCallObserved ? _request.Telemetry.Start(CallDirection.Entry, selector, payload.Length) : null;
        var callId = (ulong)Interlocked.Increment(ref _nextCallId);
        _calls[callId] = new EntryCall(ExecutionContext.Capture(), cancellationToken);
        ReadOnlyMemory<byte> reply;
        try
        {
            var header = new CallRequest { Selector = selector, CallId = callId };

            // The current activity's context (the call's own span when Cloister is traced, else the app's), so the
            // proxy's spans and the host calls they make join the caller's trace.
            WireTraceContext.From(System.Diagnostics.Activity.Current).WriteTo(header);
            reply = await caller.CallAsync(header, payload, deadline, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            var error = await TranslateAsync(ex, selector, cancellationToken).ConfigureAwait(false);
            observation?.Fail(error);
            throw error;
        }
        catch (Exception ex) when (observation is not null)
        {
            observation.Value.Fail(ex);
            throw;
        }
        finally
        {
            _calls.TryRemove(callId, out _);
        }

        observation?.Complete(reply.Length);
        return reply;
    }

    /// <summary>
    /// Runs a host call from the proxy. When it names the entry call it was made from, the handler runs in that call's
    /// execution context (its AsyncLocals) and sees that call's cancellation too.
    /// </summary>
    public ValueTask<ReadOnlyMemory<byte>> DispatchAsync(CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken serverCancellation)
    {
        if (header.ParentCallId == 0 || !_calls.TryGetValue(header.ParentCallId, out var parent) || parent.Context is null)
        {
            return _request.DispatchRemoteHostCallAsync(header.Selector, payload, WireTraceContext.ParentOf(header), serverCancellation);
        }

        return RunInEntryContextAsync(parent, header, payload, serverCancellation);
    }

    private async ValueTask<ReadOnlyMemory<byte>> RunInEntryContextAsync(EntryCall parent, CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken serverCancellation)
    {
        using var linked = parent.Cancellation.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(parent.Cancellation, serverCancellation) : null;
        var token = linked?.Token ?? serverCancellation;
        var state = new HostCallState(this, header.Selector, WireTraceContext.ParentOf(header), payload, token);
        ExecutionContext.Run(parent.Context!, static s =>
        {
            var state = (HostCallState)s!;
            state.Task = state.Client._request.DispatchRemoteHostCallAsync(state.Selector, state.Payload, state.RemoteParent, state.Token).AsTask();
        }, state);
        return await state.Task!.ConfigureAwait(false);
    }

    /// <summary>Holds the Attach stream of the proxy until the enclave is destroyed, then tells the proxy to exit.</summary>
    public async Task HoldAttachmentAsync(IServerStreamWriter<HostEvent> stream, CancellationToken cancellationToken)
    {
        try
        {
            await _released.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(new HostEvent { Shutdown = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The proxy went away first; the pending calls find out on their own.
        }
    }

    /// <summary>
    /// A transport failure, said in the enclave's terms. When the proxy died, the call waits briefly for its exit status
    /// so the message can name it.
    /// </summary>
    private async Task<EnclaveException> TranslateAsync(RpcException ex, string selector, CancellationToken cancellationToken)
    {
        if (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            return new EnclaveException(EnclaveStatusCode.Cancelled, $"Call '{selector}' to enclave '{Name}' was cancelled.", ex);
        }

        if (ex.StatusCode == StatusCode.DeadlineExceeded)
        {
            return new EnclaveException(EnclaveStatusCode.DeadlineExceeded, $"Call '{selector}' to enclave '{Name}' passed its deadline.", ex);
        }

        var exited = Provision.Exited;
        try
        {
            await exited.WaitAsync(_config.ExitStatusWait, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        var why = exited.IsCompletedSuccessfully
            ? $"its proxy exited with {exited.Result}"
            : $"its proxy at {Endpoint} cannot be reached ({ex.StatusCode}: {ex.Status.Detail})";
        return new EnclaveException(EnclaveStatusCode.Unavailable,
            $"Enclave '{Name}' is unavailable: {why}. The call '{selector}' failed; destroy the enclave and load it again.", ex);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _registration.TrySetException(new EnclaveException(EnclaveStatusCode.Cancelled, $"Enclave '{Name}' was dropped before its proxy reported in."));
        _released.TrySetResult();
        try
        {
            await Provision.FinalizeAsync(_config.ShutdownTimeout).ConfigureAwait(false);
        }
        finally
        {
            _host.Remove(this);
            _caller?.Dispose();
            _channel?.Dispose();
            await Provision.DisposeAsync().ConfigureAwait(false);
            LogReleased(Name);
        }
    }

    [LoggerMessage(300, LogLevel.Debug, "Released the proxy of enclave '{Name}'")]
    private partial void LogReleased(string name);

    private readonly record struct EntryCall(ExecutionContext? Context, CancellationToken Cancellation);

    private sealed class HostCallState(ProxyClient client, string selector, System.Diagnostics.ActivityContext remoteParent, ReadOnlyMemory<byte> payload, CancellationToken token)
    {
        public ProxyClient Client { get; } = client;

        public string Selector { get; } = selector;

        public System.Diagnostics.ActivityContext RemoteParent { get; } = remoteParent;

        public ReadOnlyMemory<byte> Payload { get; } = payload;

        public CancellationToken Token { get; } = token;

        public Task<ReadOnlyMemory<byte>>? Task { get; set; }
    }
}
