using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;

namespace Cloister.Remote;

/// <summary>
/// What <c>cloister status</c> shows about a proxy or a provision server: its grpc.health.v1 status and the key figures of
/// its metrics, both read from its metrics endpoint (<c>--metrics-port</c>). Which of the two answered, the metrics say.
/// </summary>
internal sealed class ServerStatus
{
    private const string ProvisionServerPrefix = "cloister_provision_server_";

    private ServerStatus(Uri address, HealthCheckResponse.Types.ServingStatus health, List<PrometheusSample> samples)
    {
        Address = address;
        Health = health;
        Samples = samples;
    }

    /// <summary>
    /// For a provision server: the status of each proxy it lists at <see cref="ProvisionServer.ScrapeTargetsPath"/>, or
    /// why it could not be read; empty for a proxy.
    /// </summary>
    public IReadOnlyList<(string Target, ServerStatus? Status, string? Error)> Proxies { get; private set; } = [];

    /// <summary>The metrics endpoint asked, e.g. <c>http://127.0.0.1:9464/</c>.</summary>
    public Uri Address { get; }

    public HealthCheckResponse.Types.ServingStatus Health { get; }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    public bool IsServing => Health == HealthCheckResponse.Types.ServingStatus.Serving;

    /// <summary>Whether a provision server answered (its metrics have the <c>cloister.provision_server.*</c> figures), not a proxy.</summary>
    public bool IsProvisionServer => Samples.Any(s => s.Name.StartsWith(ProvisionServerPrefix, StringComparison.Ordinal));

    /// <summary>Reads health and metrics from the metrics endpoint of a proxy or a provision server.</summary>
    /// <param name="address"><c>host:port</c>, <c>[IPv6]:port</c> or an <c>http://</c> URL of the endpoint (its path is ignored).</param>
    /// <param name="timeout">How long each of the two requests may take.</param>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.InvalidArgument"/> for a bad address,
    /// <see cref="EnclaveStatusCode.Unavailable"/> when nothing answers there.</exception>
    public static async Task<ServerStatus> ReadAsync(string address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var baseAddress = ParseAddress(address);
        using var handler = new SocketsHttpHandler { ConnectTimeout = timeout };
        using var http = new HttpClient(handler, disposeHandler: false) { Timeout = timeout };

        HealthCheckResponse.Types.ServingStatus health;
        try
        {
            using var channel = GrpcChannel.ForAddress(baseAddress, new GrpcChannelOptions
            {
                // grpc.health.v1 over gRPC-Web: the metrics port is plaintext HTTP/1.1, which Prometheus needs.
                HttpHandler = new GrpcWebHandler(GrpcWebMode.GrpcWeb, handler),
                HttpVersion = HttpVersion.Version11,
                HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                DisposeHttpClient = false,
            });
            var reply = await new Health.HealthClient(channel)
                .CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            health = reply.Status;
        }
        catch (RpcException ex)
        {
            var why = ex.Status.DebugException is { } inner ? $"{ex.Status.Detail} {inner.Message}" : ex.Status.Detail;
            throw new EnclaveException(EnclaveStatusCode.Unavailable,
                $"No Cloister health service answers at {baseAddress} ({ex.StatusCode}: {why}). Give the metrics address of a proxy or a provision server: the port of their --metrics-port (RemoteProxyConfig.ProxyMetricsPort, ProvisionServerOptions.MetricsPort).", ex);
        }

        string text;
        try
        {
            text = await http.GetStringAsync(new Uri(baseAddress, MetricsEndpoint.MetricsPath), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new EnclaveException(EnclaveStatusCode.Unavailable, $"The metrics at {new Uri(baseAddress, MetricsEndpoint.MetricsPath)} cannot be read: {ex.Message}", ex);
        }

        var status = new ServerStatus(baseAddress, health, PrometheusText.Parse(text));
        if (status.IsProvisionServer)
        {
            status.Proxies = await ReadProxiesAsync(http, baseAddress, timeout, cancellationToken).ConfigureAwait(false);
        }

        return status;
    }

    /// <summary>The proxies a provision server lists for Prometheus, each read as a proxy is; one that does not answer says why.</summary>
    private static async Task<List<(string Target, ServerStatus? Status, string? Error)>> ReadProxiesAsync(HttpClient http, Uri server, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var targets = new List<string>();
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(
                await http.GetStringAsync(new Uri(server, ProvisionServer.ScrapeTargetsPath), cancellationToken).ConfigureAwait(false));
            foreach (var group in json.RootElement.EnumerateArray())
            {
                targets.AddRange(group.GetProperty("targets").EnumerateArray().Select(t => t.GetString()).OfType<string>());
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException && !cancellationToken.IsCancellationRequested)
        {
            // An older server, or none listed: the server's own figures stand alone.
            return [];
        }

        var proxies = new List<(string, ServerStatus?, string?)>();
        foreach (var target in targets)
        {
            try
            {
                proxies.Add((target, await ReadAsync(target, timeout, cancellationToken).ConfigureAwait(false), null));
            }
            catch (EnclaveException ex)
            {
                proxies.Add((target, null, ex.Message));
            }
        }

        return proxies;
    }

    private static Uri ParseAddress(string address)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        if (address.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || address.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return Uri.TryCreate(address, UriKind.Absolute, out var uri)
                ? new Uri(uri.GetLeftPart(UriPartial.Authority) + "/")
                : throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"--address '{address}' is not a valid URL.");
        }

        var endpoint = EndpointAddress.Parse(address, "--address");
        return endpoint.IsUnixSocket
            ? throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"--address '{address}' is a Unix socket; give the metrics address (host:port of --metrics-port) of the proxy or provision server.")
            : endpoint.ChannelUri(tls: false);
    }

    /// <summary>The figures, one line each, for people.</summary>
    public IEnumerable<string> Describe() => IsProvisionServer ? DescribeProvisionServer() : DescribeProxy();

    private IEnumerable<string> DescribeProvisionServer()
    {
        yield return $"Provision server at {Address}: {HealthName(Health)}";
        yield return $"  enclaves      {Count(Total("cloister_provision_server_enclaves"))} running";
        yield return $"  uploads       {Count(Total("cloister_provision_server_uploads_active"))} in flight, {FormatBytes(Total("cloister_provision_server_upload_size_bytes_total"))} received";
        yield return $"  rejections    {DescribeByLabel("cloister_provision_server_rejections_total", Labels.RejectionReason)}";
        yield return $"  proxy exits   {DescribeByLabel("cloister_proxy_exits_total", Labels.ExitReason)}";
        foreach (var (target, status, error) in Proxies)
        {
            if (status is null)
            {
                yield return $"Proxy at http://{target}/: {error}";
                continue;
            }

            foreach (var line in status.DescribeProxy())
            {
                yield return line;
            }
        }
    }

    /// <summary>The total of a counter, and its non-zero parts by one label, most first: "3 (limit 2, unauthenticated 1)".</summary>
    private string DescribeByLabel(string name, string label)
    {
        var parts = Samples.Where(s => s.Name == name)
            .GroupBy(s => s.Label(label))
            .Select(g => (Value: g.Key, Count: g.Sum(s => s.Value)))
            .Where(g => g.Count > 0)
            .OrderByDescending(g => g.Count)
            .ThenBy(g => g.Value, StringComparer.Ordinal)
            .ToList();
        var total = Count(parts.Sum(p => p.Count));
        return parts.Count == 0 ? total : $"{total} ({string.Join(", ", parts.Select(p => $"{p.Value} {Count(p.Count)}"))})";
    }

    private double Total(string name) => Samples.Where(s => s.Name == name).Sum(s => s.Value);

    private IEnumerable<string> DescribeProxy()
    {
        yield return $"Proxy at {Address}: {HealthName(Health)}";
        var enclaves = Samples.Select(s => s.Label(Labels.Enclave)).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (enclaves.Count == 0)
        {
            yield return "  no enclave figures yet (the proxy has not loaded its enclave)";
            yield break;
        }

        foreach (var enclave in enclaves)
        {
            var mine = Samples.Where(s => s.Label(Labels.Enclave) == enclave).ToList();
            var any = mine[0];
            yield return $"  enclave       {enclave} (backend {any.Label(Labels.Backend)}, measurement {any.Label(Labels.Measurement)}…)";
            if (Value(mine, "cloister_proxy_uptime_seconds") is { } uptime)
            {
                yield return $"  uptime        {FormatDuration(TimeSpan.FromSeconds(uptime))}";
            }

            yield return $"  entry calls   {DescribeCalls(mine, "entry")}";
            yield return $"  host calls    {DescribeCalls(mine, "host_call")}";
            var sent = Sum(mine, "cloister_call_request_size_bytes_total", "entry");
            var received = Sum(mine, "cloister_call_response_size_bytes_total", "entry");
            yield return $"  payload       {FormatBytes(sent)} in, {FormatBytes(received)} out (entry calls)";
            if (Value(mine, "cloister_proxy_cpu_time_seconds_total") is { } cpu)
            {
                yield return $"  cpu time      {cpu.ToString("0.00", CultureInfo.InvariantCulture)} s";
            }

            if (Value(mine, "cloister_proxy_memory_working_set_bytes") is { } workingSet)
            {
                var heap = Value(mine, "cloister_proxy_gc_heap_size_bytes");
                yield return $"  memory        working set {FormatBytes(workingSet)}" + (heap is { } h ? $", GC heap {FormatBytes(h)}" : string.Empty);
            }

            if (Value(mine, "cloister_proxy_thread_count") is { } threads)
            {
                yield return $"  threads       {threads.ToString("0", CultureInfo.InvariantCulture)}";
            }
        }
    }

    /// <summary>The calls one direction of one enclave, as the proxy measured them.</summary>
    private static string DescribeCalls(List<PrometheusSample> samples, string direction)
    {
        var completed = Sum(samples, "cloister_calls_completed_total", direction);
        var failures = Measured(samples, "cloister_calls_failed_total", direction)
            .GroupBy(s => s.Label(Labels.Status))
            .Select(g => (Status: g.Key, Count: g.Sum(s => s.Value)))
            .Where(g => g.Count > 0)
            .OrderByDescending(g => g.Count)
            .ToList();
        var failed = failures.Sum(f => f.Count);
        var active = Sum(samples, "cloister_calls_active", direction);
        var text = $"{Count(completed)} completed, {Count(failed)} failed";
        if (failures.Count > 0)
        {
            text += $" ({string.Join(", ", failures.Select(f => $"{f.Status} {Count(f.Count)}"))})";
        }

        text += $", {Count(active)} in flight";
        var buckets = Measured(samples, "cloister_call_duration_seconds_bucket", direction).ToList();
        if (PrometheusText.Quantile(0.5, buckets) is { } p50 && PrometheusText.Quantile(0.99, buckets) is { } p99)
        {
            text += $"; p50 {FormatLatency(p50)}, p99 {FormatLatency(p99)}";
        }

        return text;
    }

    // The proxy's own measurements (cloister.call.side = proxy) of one direction.
    private static IEnumerable<PrometheusSample> Measured(List<PrometheusSample> samples, string name, string direction) =>
        samples.Where(s => s.Name == name && s.Label(Labels.Direction) == direction && s.Label(Labels.Side) == "proxy");

    private static double Sum(List<PrometheusSample> samples, string name, string direction) => Measured(samples, name, direction).Sum(s => s.Value);

    private static double? Value(List<PrometheusSample> samples, string name) =>
        samples.FirstOrDefault(s => s.Name == name) is { } sample ? sample.Value : null;

    private static string HealthName(HealthCheckResponse.Types.ServingStatus status) => status switch
    {
        HealthCheckResponse.Types.ServingStatus.Serving => "SERVING",
        HealthCheckResponse.Types.ServingStatus.NotServing => "NOT_SERVING",
        HealthCheckResponse.Types.ServingStatus.ServiceUnknown => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    };

    private static string Count(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string FormatLatency(double seconds) => seconds < 0.001
        ? $"{(seconds * 1_000_000).ToString("0", CultureInfo.InvariantCulture)} µs"
        : $"{(seconds * 1000).ToString("0.00", CultureInfo.InvariantCulture)} ms";

    private static string FormatBytes(double bytes) => bytes switch
    {
        < 1024 => $"{bytes.ToString("0", CultureInfo.InvariantCulture)} B",
        < 1024 * 1024 => $"{(bytes / 1024).ToString("0.0", CultureInfo.InvariantCulture)} KiB",
        < 1024.0 * 1024 * 1024 => $"{(bytes / (1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture)} MiB",
        _ => $"{(bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture)} GiB",
    };

    private static string FormatDuration(TimeSpan span) => span.TotalHours >= 1
        ? $"{(int)span.TotalHours} h {span.Minutes:00} min {span.Seconds:00} s"
        : span.TotalMinutes >= 1 ? $"{span.Minutes} min {span.Seconds:00} s" : $"{span.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s";

    /// <summary>The Prometheus names of Cloister's tags (dots become underscores).</summary>
    private static class Labels
    {
        public const string Enclave = "cloister_enclave_name";
        public const string Backend = "cloister_backend";
        public const string Measurement = "cloister_enclave_measurement";
        public const string Side = "cloister_call_side";
        public const string Direction = "cloister_call_direction";
        public const string Status = "cloister_status_code";
        public const string RejectionReason = "cloister_rejection_reason";
        public const string ExitReason = "cloister_proxy_exit_reason";
    }
}
