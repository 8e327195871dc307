using System.Diagnostics;
using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// Provisions the proxy through a provision server (<c>cloister provision-server</c>), usually on another machine:
/// uploads the package in chunks (with progress, retried from the start on a transport failure), and keeps the
/// Provision call open for the enclave's life; ending it makes the server stop the proxy and delete its files.
/// </summary>
public sealed partial class RemoteProxyProvision : IRemoteProvision
{
    private const int ChunkBytes = 1024 * 1024;
    private readonly RemoteProvisionOptions _options;
    private readonly ChannelSecurity _security;
    private readonly ILogger _logger;
    private readonly EndpointAddress _server;
    private readonly TaskCompletionSource<ProxyExitStatus> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _lifetime = new();
    private GrpcChannel? _channel;
    private AsyncDuplexStreamingCall<ProvisionMessage, ProvisionEvent>? _call;
    private string _output = "";
    private int _finalized;

    /// <summary>Creates a provision for one enclave.</summary>
    /// <param name="options">The server and how to authenticate.</param>
    /// <param name="security">The channel security when <paramref name="options"/> has none (the backend's).</param>
    /// <param name="loggerFactory">Logging.</param>
    public RemoteProxyProvision(RemoteProvisionOptions options, ChannelSecurity? security = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _security = options.Security ?? security ?? ChannelSecurity.Insecure;
        _server = EndpointAddress.Parse(options.ServerAddress, $"{nameof(RemoteProvisionOptions)}.{nameof(RemoteProvisionOptions.ServerAddress)}");
        _logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<RemoteProxyProvision>();
    }

    /// <inheritdoc />
    public Task<ProxyExitStatus> Exited => _exited.Task;

    /// <inheritdoc />
    public string RecentOutput => _output;

    /// <inheritdoc />
    public string? ProxyHost => _server.Host;

    /// <summary>The provision server's id for the enclave, once started (for <c>cloister kill</c>).</summary>
    public string? EnclaveId { get; private set; }

    /// <summary>When the server had received the whole package (a <see cref="Stopwatch"/> timestamp); 0 until then.</summary>
    internal long UploadedTimestamp { get; private set; }

    /// <inheritdoc />
    public async ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var size = new FileInfo(request.PackagePath) is { Exists: true } file
            ? file.Length
            : throw new EnclaveException(EnclaveStatusCode.NotFound, $"Enclave package '{request.PackagePath}' does not exist.");
        // The upload stage runs from here, retries included, until the server has every byte.
        var uploadStarted = Stopwatch.GetTimestamp();
        _channel = _server.CreateChannel(_security);
        var client = new Provisioner.ProvisionerClient(_channel);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await StartAsync(client, request, size, cancellationToken).ConfigureAwait(false);
                if (request.Telemetry is { } telemetry)
                {
                    CloisterTelemetry.RecordStage(telemetry, ProvisionStages.Upload, uploadStarted, UploadedTimestamp);
                }

                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && attempt < _options.UploadRetries && !cancellationToken.IsCancellationRequested)
            {
                LogRetrying(request.EnclaveName, _server.ToString(), attempt + 1, ex.Status.Detail);
                _call?.Dispose();
            }
            // A status with a DebugException was made by this side's transport (connection or TLS handshake failed),
            // not sent by the server.
            catch (Exception ex) when (ex is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.Internal, Status.DebugException: not null } or IOException or HttpRequestException)
            {
                _call?.Dispose();
                throw new EnclaveException(EnclaveStatusCode.Unavailable,
                    $"The provision server at {_server} could not be reached, or refused the connection, for enclave '{request.EnclaveName}': {(ex as RpcException)?.Status.Detail ?? ex.Message} Check the address, and that this host's --security-type and certificates match the server's (a mutual TLS server needs a client certificate).", ex);
            }
            catch (RpcException ex)
            {
                _call?.Dispose();
                throw new EnclaveException(ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested ? EnclaveStatusCode.Cancelled : (EnclaveStatusCode)ex.StatusCode,
                    $"The provision server at {_server} did not run enclave '{request.EnclaveName}': {ex.Status.Detail}", ex);
            }
        }
    }

    private async Task StartAsync(Provisioner.ProvisionerClient client, ProxyProvisionRequest request, long size, CancellationToken cancellationToken)
    {
        UploadedTimestamp = 0;
        var headers = new Metadata();
        if (_options.BearerToken is { } token)
        {
            headers.Add("authorization", $"Bearer {token}");
        }

        // The call outlives this method (it is the enclave's life), so only the start is bound to the caller's token.
        _call = client.Provision(headers, cancellationToken: _lifetime.Token);
        using var abort = cancellationToken.Register(static c => ((AsyncDuplexStreamingCall<ProvisionMessage, ProvisionEvent>)c!).Dispose(), _call);
        await SendAsync(new ProvisionMessage
        {
            Start = new ProvisionStart
            {
                EnclaveName = request.EnclaveName,
                ClientAddress = request.ClientAddress,
                SessionToken = request.SessionToken,
                ExpectedMeasurement = request.ExpectedMeasurement ?? "",
                Debug = request.Debug,
                PackageSize = (ulong)size,
            },
        }, cancellationToken).ConfigureAwait(false);

        var package = new FileStream(request.PackagePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, useAsync: true);
        await using (package.ConfigureAwait(false))
        {
            var buffer = new byte[ChunkBytes];
            long sent = 0;
            int read;
            while ((read = await package.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                // Wrapped, not copied: the message is serialized by the time WriteAsync completes, so the buffer can be
                // read into again (a copy per 1 MiB chunk measured about 8 % of a 64 MiB upload).
                await SendAsync(new ProvisionMessage { Chunk = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)) }, cancellationToken).ConfigureAwait(false);
                sent += read;
                _options.Progress?.Report((sent, size));
            }
        }

        await SendAsync(new ProvisionMessage { UploadComplete = true }, cancellationToken).ConfigureAwait(false);
        while (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var reply = _call.ResponseStream.Current;
            if (reply.KindCase == ProvisionEvent.KindOneofCase.ReceivedBytes && reply.ReceivedBytes >= (ulong)size)
            {
                UploadedTimestamp = Stopwatch.GetTimestamp();
            }
            else if (reply.Started is { } started)
            {
                if (UploadedTimestamp == 0)
                {
                    UploadedTimestamp = Stopwatch.GetTimestamp();
                }

                EnclaveId = started.Id;
                LogStarted(request.EnclaveName, _server.ToString(), started.Id, started.ProcessId);
                _ = WatchAsync(_call);
                return;
            }
        }

        throw new RpcException(new Status(StatusCode.Unavailable, "The provision server ended the call before the proxy started."));
    }

    /// <summary>
    /// Writes to the call. When the server has already ended it (a refusal arrives while the upload is still being
    /// sent), the write fails without saying why; the server's status, read from the call, says it.
    /// </summary>
    private async Task SendAsync(ProvisionMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await _call!.RequestStream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or RpcException && !cancellationToken.IsCancellationRequested)
        {
            try
            {
                while (await _call!.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
                {
                }
            }
            catch (RpcException status)
            {
                throw new RpcException(status.Status, status.Trailers, status.Message);
            }

            throw;
        }
    }

    /// <summary>Reads the rest of the call: the proxy's exit, or the call's end when the server or the network fails.</summary>
    private async Task WatchAsync(AsyncDuplexStreamingCall<ProvisionMessage, ProvisionEvent> call)
    {
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                if (call.ResponseStream.Current.Exited is { } exited)
                {
                    _output = exited.Output;
                    _exited.TrySetResult(new ProxyExitStatus(exited.ExitCode));
                }
            }
        }
        catch (RpcException)
        {
            // The server or the network went away; the proxy is gone to us either way.
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            _exited.TrySetResult(new ProxyExitStatus(-1));
        }
    }

    /// <inheritdoc />
    public async ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _finalized, 1) != 0 || _call is not { } call)
        {
            return;
        }

        try
        {
            await call.RequestStream.WriteAsync(new ProvisionMessage { Release = true }, cancellationToken).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            await _exited.Task.WaitAsync(gracePeriod + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or TimeoutException or ObjectDisposedException)
        {
            // The server is gone or slow; ending the call below makes it clean up on its side.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await FinalizeAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _call?.Dispose();
        _channel?.Dispose();
        _lifetime.Dispose();
        _exited.TrySetResult(new ProxyExitStatus(-1));
    }

    [LoggerMessage(420, LogLevel.Warning, "Uploading enclave '{Name}' to {Server} failed, retrying ({Attempt}): {Reason}")]
    private partial void LogRetrying(string name, string server, int attempt, string reason);

    [LoggerMessage(421, LogLevel.Information, "Provision server {Server} runs enclave '{Name}' as {Id} (proxy pid {Pid})")]
    private partial void LogStartedCore(string server, string name, string id, int pid);

    private void LogStarted(string name, string server, string id, int pid) => LogStartedCore(server, name, id, pid);
}
