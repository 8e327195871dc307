using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Cloister.Remote.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>The provision server's gRPC service: authenticates, admits, receives, verifies, launches, cleans up.</summary>
internal sealed partial class ProvisionerService : Provisioner.ProvisionerBase
{
    private const long ProgressEvery = 4 * 1024 * 1024;
    private readonly ProvisionServerOptions _options;
    private readonly EndpointAddress _listen;
    private readonly string _work;
    private readonly string? _token;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly ProvisionServerMetrics _metrics;
    private readonly ConcurrentDictionary<string, ProvisionedEnclave> _enclaves = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private volatile bool _stopping;

    public ProvisionerService(ProvisionServerOptions options, EndpointAddress listen, string work, string? token, ProvisionServerMetrics metrics, ILoggerFactory loggerFactory)
    {
        _metrics = metrics;
        _options = options;
        _listen = listen;
        _work = work;
        _token = token;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ProvisionServer>();
    }

    public int Count => _enclaves.Count;

    /// <summary>
    /// True when the server serves metrics (<see cref="ProvisionServerOptions.MetricsPort"/>): then every proxy it starts
    /// serves its own, on a free port of the same address, and <see cref="WriteScrapeTargetsAsync"/> lists them.
    /// </summary>
    private bool ServesProxyMetrics => _options.MetricsPort is not null;

    /// <summary>
    /// Where a proxy serves its metrics, as <c>host:port</c>: the port it reported (<see cref="ProvisionedEnclave.MetricsPort"/>)
    /// on this server's own metrics address (both bind the same one), never a host the proxy names. A wildcard address is
    /// named by the host the caller reached this server at, <paramref name="requestHost"/>.
    /// </summary>
    private string? ProxyMetricsTarget(ProvisionedEnclave enclave, string requestHost)
    {
        if (enclave.MetricsPort is not { } port)
        {
            return null;
        }

        // The host the proxies bound, as MetricsEndpoint resolves it for a port of 0.
        var bound = MetricsEndpoint.BindHost(_options.MetricsAddress, port: 0);
        var host = MetricsEndpoint.IsWildcard(bound) ? requestHost
            : IPAddress.TryParse(bound, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]"
            : bound;
        return $"{host}:{port}";
    }

    /// <summary>
    /// The metrics endpoints of the running proxies, in the format of Prometheus's HTTP service discovery
    /// (<c>http_sd_configs</c>): one target group per enclave, labelled with the enclave's id on this server. The proxies'
    /// own series carry the enclave's name and measurement. A proxy bound to a wildcard address is named by the host the
    /// caller reached this server at.
    /// </summary>
    public async Task WriteScrapeTargetsAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        var json = new Utf8JsonWriter(context.Response.BodyWriter);
        await using (json.ConfigureAwait(false))
        {
            json.WriteStartArray();
            foreach (var enclave in _enclaves.Values.Where(e => e.ProcessId is not null).OrderBy(e => e.StartedAt))
            {
                if (ProxyMetricsTarget(enclave, context.Request.Host.Host) is not { } target)
                {
                    continue;
                }

                json.WriteStartObject();
                json.WriteStartArray("targets");
                json.WriteStringValue(target);
                json.WriteEndArray();
                json.WriteStartObject("labels");
                json.WriteString("cloister_enclave_id", enclave.Id);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }
    }

    public override async Task Provision(IAsyncStreamReader<ProvisionMessage> requestStream, IServerStreamWriter<ProvisionEvent> responseStream, ServerCallContext context)
    {
        var client = Authenticate(context);
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken).ConfigureAwait(false) || requestStream.Current.KindCase != ProvisionMessage.KindOneofCase.Start)
        {
            throw Reject(RejectionReason.InvalidRequest, StatusCode.InvalidArgument, "A Provision call must start with a ProvisionStart message.");
        }

        var start = requestStream.Current.Start;
        Validate(start, context);
        var enclave = Admit(client, start.EnclaveName);
        LocalProxyProvision? provision = null;
        var running = false;
        var failure = RejectionReason.InvalidPackage;
        try
        {
            var package = Path.Combine(enclave.Folder, "package" + EnclavePackage.FileExtension);
            await ReceivePackageAsync(requestStream, responseStream, package, start.PackageSize, cancellationToken).ConfigureAwait(false);
            var contents = await VerifyAsync(package, cancellationToken).ConfigureAwait(false);

            failure = RejectionReason.LaunchFailed;
            var proxyOptions = new LocalProxyProvisionOptions { ProxyPath = _options.ProxyPath };
            if (ServesProxyMetrics)
            {
                // Each proxy serves its own metrics on a port it picks; the file tells this server which (WriteScrapeTargetsAsync).
                proxyOptions.ExtraArguments.Add("--metrics-url-file=" + enclave.MetricsUrlFile);
            }

            provision = new LocalProxyProvision(proxyOptions, _loggerFactory);
            await provision.ProvisionAsync(new ProxyProvisionRequest
            {
                MetricsPort = ServesProxyMetrics ? 0 : null,
                MetricsAddress = ServesProxyMetrics ? _options.MetricsAddress : null,
                EnclaveName = start.EnclaveName,
                PackagePath = package,
                ClientAddress = ResolveClientAddress(start.ClientAddress, context),
                SessionToken = start.SessionToken,
                ExpectedMeasurement = string.IsNullOrEmpty(start.ExpectedMeasurement) ? null : start.ExpectedMeasurement,
                Debug = start.Debug,
                ListenAddress = _listen.IsUnixSocket ? null : EndpointAddress.Tcp(_listen.Host!, 0).ToString(),
                Security = _options.Security,
            }, cancellationToken).ConfigureAwait(false);
            enclave.Start(provision, contents.Measurement);
            _metrics.EnclaveStarted();
            running = true;
            LogLaunched(enclave.Id, start.EnclaveName, client, provision.ProcessId ?? 0, contents.Measurement);
            await responseStream.WriteAsync(new ProvisionEvent
            {
                Started = new ProxyStarted { Id = enclave.Id, ProcessId = provision.ProcessId ?? 0, Measurement = contents.Measurement },
            }, cancellationToken).ConfigureAwait(false);

            // The enclave lives until its host releases it or goes away, it is terminated, or its proxy dies.
            var released = WaitForReleaseAsync(requestStream, cancellationToken);
            await Task.WhenAny(released, provision.Exited, enclave.Terminated).ConfigureAwait(false);
            var grace = enclave.Terminated.IsCompleted ? TimeSpan.Zero : _options.ShutdownTimeout;
            await provision.FinalizeAsync(grace, CancellationToken.None).ConfigureAwait(false);
            var exit = await provision.Exited.ConfigureAwait(false);
            LogEnded(enclave.Id, start.EnclaveName, exit.ToString());
            if (!cancellationToken.IsCancellationRequested)
            {
                await responseStream.WriteAsync(new ProvisionEvent { Exited = new ProxyExited { ExitCode = exit.ExitCode, Output = provision.RecentOutput } }, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (EnclaveException ex)
        {
            throw Reject(failure, (StatusCode)ex.StatusCode, ex.Message);
        }
        catch (IOException ex) when (cancellationToken.IsCancellationRequested)
        {
            LogCutOff(enclave.Id, start.EnclaveName, ex.Message);
        }
        finally
        {
            if (running)
            {
                _metrics.EnclaveEnded();
            }

            if (provision is not null)
            {
                await provision.DisposeAsync().ConfigureAwait(false);
            }

            Release(enclave);
        }
    }

    public override Task<ListEnclavesReply> ListEnclaves(ListEnclavesRequest request, ServerCallContext context)
    {
        Authenticate(context);
        var reply = new ListEnclavesReply();
        foreach (var enclave in _enclaves.Values.Where(e => e.ProcessId is not null).OrderBy(e => e.StartedAt))
        {
            var info = new EnclaveInfo
            {
                Id = enclave.Id,
                EnclaveName = enclave.Name,
                Measurement = enclave.Measurement ?? "",
                Client = enclave.Client,
                StartedUnixMs = enclave.StartedAt.ToUnixTimeMilliseconds(),
                ProcessId = enclave.ProcessId!.Value,
                MetricsEndpoint = ProxyMetricsTarget(enclave, context.GetHttpContext().Request.Host.Host) is { } target ? $"http://{target}{MetricsEndpoint.MetricsPath}" : "",
            };
            try
            {
                using var process = Process.GetProcessById(info.ProcessId);
                info.CpuSeconds = process.TotalProcessorTime.TotalSeconds;
                info.WorkingSetBytes = process.WorkingSet64;
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // It exited between the listing and the look-up.
            }

            reply.Enclaves.Add(info);
        }

        return Task.FromResult(reply);
    }

    public override Task<TerminateReply> Terminate(TerminateRequest request, ServerCallContext context)
    {
        var client = Authenticate(context);
        if (!_enclaves.TryGetValue(request.Id, out var enclave))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"No enclave with id '{request.Id}' runs here; `cloister ps` lists them."));
        }

        LogTerminating(enclave.Id, enclave.Name, client);
        enclave.Terminate();
        return Task.FromResult(new TerminateReply { Terminated = true });
    }

    /// <summary>Stops every proxy and waits for their calls to clean up (graceful shutdown).</summary>
    public async Task StopAllAsync()
    {
        _stopping = true;
        var all = _enclaves.Values.ToArray();
        foreach (var enclave in all)
        {
            enclave.Terminate();
        }

        try
        {
            await Task.WhenAll(all.Select(e => e.Finished)).WaitAsync(_options.ShutdownTimeout + TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStopTimedOut(all.Count(e => !e.Finished.IsCompleted));
        }
    }

    private string Authenticate(ServerCallContext context)
    {
        var connection = context.GetHttpContext().Connection;
        string? identity = null;
        if (_options.Security.Type == ChannelSecurityType.MutualTls)
        {
            identity = connection.ClientCertificate?.Subject
                ?? throw Reject(RejectionReason.Unauthenticated, StatusCode.Unauthenticated, "This provision server requires a client certificate (mutual TLS).");
        }

        if (_token is not null)
        {
            var header = context.RequestHeaders.GetValue("authorization");
            if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal) || !ProvisionServer.TokenMatches(_token, header["Bearer ".Length..]))
            {
                throw Reject(RejectionReason.Unauthenticated, StatusCode.Unauthenticated, "This provision server requires a bearer token: send 'authorization: Bearer <token>' (RemoteProvisionOptions.BearerToken, --provision-token-file).");
            }

            identity ??= "token";
        }

        return identity ?? connection.RemoteIpAddress?.ToString() ?? "unknown";
    }

    private void Validate(ProvisionStart start, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(start.EnclaveName) || string.IsNullOrWhiteSpace(start.SessionToken) || string.IsNullOrWhiteSpace(start.ClientAddress))
        {
            throw Reject(RejectionReason.InvalidRequest, StatusCode.InvalidArgument, "ProvisionStart needs enclave_name, client_address and session_token.");
        }

        if ((long)start.PackageSize > _options.PackageLimits.MaxPackageBytes)
        {
            throw Reject(RejectionReason.TooLarge, StatusCode.ResourceExhausted,
                $"The package of '{start.EnclaveName}' is {start.PackageSize} bytes, over this server's limit of {_options.PackageLimits.MaxPackageBytes} bytes (--max-package-bytes).");
        }

        EndpointAddress clientAddress;
        try
        {
            clientAddress = EndpointAddress.Parse(start.ClientAddress, "client_address");
        }
        catch (EnclaveException ex)
        {
            throw Reject(RejectionReason.InvalidRequest, StatusCode.InvalidArgument, ex.Message);
        }

        if (!IsAllowedClientAddress(clientAddress, context.GetHttpContext().Connection.RemoteIpAddress, _options.AllowAnyClientAddress))
        {
            throw Reject(RejectionReason.InvalidRequest, StatusCode.InvalidArgument,
                $"client_address '{start.ClientAddress}' is not the caller's own address ({context.Peer}): a caller on another machine may only name itself (or 0.0.0.0:port, which the server fills in). Behind NAT, start the server with --allow-any-client-address.");
        }
    }

    /// <summary>
    /// Whether a proxy started here may connect to <paramref name="address"/> for a caller at <paramref name="peer"/>. A
    /// caller on this machine (a Unix socket, null <paramref name="peer"/>, or loopback) may name any address. One on
    /// another machine only its own IP address, or an unspecified one (<c>0.0.0.0</c>, <c>[::]</c>, replaced by its own),
    /// unless <paramref name="allowAny"/>: otherwise it could aim the server's proxies at this machine's local sockets and
    /// ports, or its network's, and learn from their output what answers there.
    /// </summary>
    internal static bool IsAllowedClientAddress(EndpointAddress address, IPAddress? peer, bool allowAny)
    {
        if (peer is null || IPAddress.IsLoopback(Unmapped(peer)))
        {
            return true;
        }

        if (address.IsUnixSocket)
        {
            return false;
        }

        if (allowAny)
        {
            return true;
        }

        return address.IsUnspecified || IPAddress.TryParse(address.Host, out var ip) && Unmapped(ip).Equals(Unmapped(peer));
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Reserves a slot within the server's and the client's limits, and a work folder.</summary>
    private ProvisionedEnclave Admit(string client, string name)
    {
        lock (_admission)
        {
            if (_stopping)
            {
                throw Reject(RejectionReason.Stopping, StatusCode.Unavailable, "The provision server is shutting down.");
            }

            if (_enclaves.Count >= _options.MaxEnclaves)
            {
                throw Reject(RejectionReason.Limit, StatusCode.ResourceExhausted, $"This provision server already runs {_enclaves.Count} enclaves, its limit (--max-enclaves).");
            }

            var mine = _enclaves.Values.Count(e => e.Client == client);
            if (mine >= _options.MaxEnclavesPerClient)
            {
                throw Reject(RejectionReason.Limit, StatusCode.ResourceExhausted, $"Client '{client}' already runs {mine} enclaves here, its quota (--max-enclaves-per-client).");
            }

            var id = Guid.NewGuid().ToString("N")[..12];
            var folder = Path.Combine(_work, id);
            Directory.CreateDirectory(folder);
            var enclave = new ProvisionedEnclave(id, name, client, folder);
            _enclaves[id] = enclave;
            return enclave;
        }
    }

    private void Release(ProvisionedEnclave enclave)
    {
        _enclaves.TryRemove(enclave.Id, out _);
        try
        {
            Directory.Delete(enclave.Folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(enclave.Folder, ex.Message);
        }

        enclave.Finish();
    }

    private async Task ReceivePackageAsync(IAsyncStreamReader<ProvisionMessage> requests, IServerStreamWriter<ProvisionEvent> events, string path, ulong size, CancellationToken cancellationToken)
    {
        _metrics.UploadStarted();
        try
        {
            await ReceivePackageCoreAsync(requests, events, path, size, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The host went away mid-upload; refusals (RpcException) were counted where they were made.
            _metrics.Rejected(RejectionReason.UploadFailed);
            throw;
        }
        finally
        {
            _metrics.UploadEnded();
        }
    }

    private async Task ReceivePackageCoreAsync(IAsyncStreamReader<ProvisionMessage> requests, IServerStreamWriter<ProvisionEvent> events, string path, ulong size, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: true);
        await using (file.ConfigureAwait(false))
        {
            ulong received = 0, reported = 0;
            while (await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var message = requests.Current;
                switch (message.KindCase)
                {
                    case ProvisionMessage.KindOneofCase.Chunk:
                        received += (ulong)message.Chunk.Length;
                        _metrics.Received(message.Chunk.Length);
                        if (received > size)
                        {
                            throw Reject(RejectionReason.UploadFailed, StatusCode.InvalidArgument, $"The upload sent more than the {size} bytes it announced.");
                        }

                        await file.WriteAsync(message.Chunk.Memory, cancellationToken).ConfigureAwait(false);
                        if (received - reported >= ProgressEvery || received == size)
                        {
                            reported = received;
                            await events.WriteAsync(new ProvisionEvent { ReceivedBytes = received }, cancellationToken).ConfigureAwait(false);
                        }

                        break;
                    case ProvisionMessage.KindOneofCase.UploadComplete when received == size:
                        return;
                    case ProvisionMessage.KindOneofCase.UploadComplete:
                        throw Reject(RejectionReason.UploadFailed, StatusCode.InvalidArgument, $"The upload ended after {received} of the {size} bytes it announced.");
                    default:
                        throw Reject(RejectionReason.InvalidRequest, StatusCode.InvalidArgument, $"Unexpected {message.KindCase} message during the upload.");
                }
            }

            throw Reject(RejectionReason.UploadFailed, StatusCode.Cancelled, $"The upload was cut off after {received} of {size} bytes.");
        }
    }

    private async Task<PackageContents> VerifyAsync(string package, CancellationToken cancellationToken)
    {
        var contents = await EnclavePackage.VerifyAsync(package, _options.PackageLimits, cancellationToken).ConfigureAwait(false);
        if (_options.AllowedMeasurements.Count > 0 && !_options.AllowedMeasurements.Contains(contents.Measurement))
        {
            throw Reject(RejectionReason.NotAllowed, StatusCode.PermissionDenied,
                $"Package measurement {contents.Measurement} is not on this server's allow-list (--allowed-measurement); it was not run.");
        }

        return contents;
    }

    private static async Task WaitForReleaseAsync(IAsyncStreamReader<ProvisionMessage> requests, CancellationToken cancellationToken)
    {
        try
        {
            while (await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                if (requests.Current.KindCase == ProvisionMessage.KindOneofCase.Release)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or RpcException)
        {
            // The host went away: that releases the enclave too.
        }
    }

    /// <summary>An unspecified host (0.0.0.0, [::]) in the client's address becomes the address the call came from.</summary>
    private static string ResolveClientAddress(string address, ServerCallContext context)
    {
        var parsed = EndpointAddress.Parse(address, "client_address");
        if (!parsed.IsUnspecified)
        {
            return address;
        }

        var peer = context.GetHttpContext().Connection.RemoteIpAddress ?? IPAddress.Loopback;
        if (peer.IsIPv4MappedToIPv6)
        {
            peer = peer.MapToIPv4();
        }

        return EndpointAddress.Tcp(peer.ToString(), parsed.Port).ToString();
    }

    private RpcException Reject(RejectionReason reason, StatusCode code, string message)
    {
        _metrics.Rejected(reason);
        LogRejected(ProvisionServerMetrics.Name(reason), message);
        return new RpcException(new Status(code, message));
    }

    [LoggerMessage(410, LogLevel.Information, "Enclave {Id} ('{Name}') launched for {Client}: proxy pid {Pid}, measurement {Measurement}")]
    private partial void LogLaunched(string id, string name, string client, int pid, string measurement);

    [LoggerMessage(411, LogLevel.Information, "Enclave {Id} ('{Name}') ended: its proxy exited with {Exit}")]
    private partial void LogEnded(string id, string name, string exit);

    [LoggerMessage(412, LogLevel.Warning, "Rejected a provision request ({Reason}): {Message}")]
    private partial void LogRejected(string reason, string message);

    [LoggerMessage(413, LogLevel.Warning, "The host of enclave {Id} ('{Name}') went away: {Reason}")]
    private partial void LogCutOff(string id, string name, string reason);

    [LoggerMessage(414, LogLevel.Information, "Terminating enclave {Id} ('{Name}') at the request of {Client}")]
    private partial void LogTerminating(string id, string name, string client);

    [LoggerMessage(416, LogLevel.Warning, "{Count} enclaves had not finished cleaning up when the server stopped")]
    private partial void LogStopTimedOut(int count);

    [LoggerMessage(415, LogLevel.Warning, "Could not delete '{Folder}': {Reason}")]
    private partial void LogCleanupFailed(string folder, string reason);
}

/// <summary>One enclave the provision server runs.</summary>
internal sealed class ProvisionedEnclave(string id, string name, string client, string folder)
{
    private readonly TaskCompletionSource _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private const int MaxMetricsUrlBytes = 256;
    private int? _metricsPort;

    public string Id { get; } = id;

    public string Name { get; } = name;

    public string Client { get; } = client;

    public string Folder { get; } = folder;

    /// <summary>Where its proxy writes its metrics URL (<c>--metrics-url-file</c>), when the server gives it metrics.</summary>
    public string MetricsUrlFile => Path.Combine(Folder, "metrics-url");

    /// <summary>
    /// The port its proxy serves metrics on, once the proxy has written its URL (<c>--metrics-url-file</c>); null before, when
    /// it serves none, or when the file does not hold an <c>http://…/metrics</c> URL. Only the port is taken: the file is
    /// the proxy's, and the proxy runs code the server did not write.
    /// </summary>
    public int? MetricsPort
    {
        get
        {
            // A URL is short; anything else the proxy's code could put there (a huge file, a pipe, a device: length 0) is not read.
            var file = new FileInfo(MetricsUrlFile);
            if (_metricsPort is null && file.Exists && file.Length is > 0 and <= MaxMetricsUrlBytes)
            {
                try
                {
                    if (Uri.TryCreate(File.ReadAllText(MetricsUrlFile).Trim(), UriKind.Absolute, out var url)
                        && url.Scheme == Uri.UriSchemeHttp && url.AbsolutePath == MetricsEndpoint.MetricsPath && url.Port is > 0 and <= 65535)
                    {
                        _metricsPort = url.Port;
                    }
                }
                catch (IOException)
                {
                    // Gone with the enclave: listed without one.
                }
            }

            return _metricsPort;
        }
    }

    public DateTimeOffset StartedAt { get; private set; } = DateTimeOffset.UtcNow;

    public int? ProcessId { get; private set; }

    public string? Measurement { get; private set; }

    public Task Terminated => _terminated.Task;

    public Task Finished => _finished.Task;

    public void Start(LocalProxyProvision provision, string measurement)
    {
        ProcessId = provision.ProcessId;
        Measurement = measurement;
        StartedAt = DateTimeOffset.UtcNow;
    }

    public void Terminate() => _terminated.TrySetResult();

    public void Finish() => _finished.TrySetResult();
}
