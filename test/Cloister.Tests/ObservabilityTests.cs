using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Cloister.Remote;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Cloister.Tests;

/// <summary>
/// Metrics, traces and health with real parts: real proxies scraped over HTTP at their real <c>/metrics</c>, OpenTelemetry's
/// SDK with its in-memory exporter in the host, W3C trace context over the real communicator. The test process may run
/// other tests at the same time, so every assertion selects by this test's own (unique) enclave names.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ObservabilityTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly List<RemoteBackend> _backends = [];
    private readonly List<EnclaveManager> _managers = [];

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var manager in _managers)
        {
            await manager.DisposeAsync();
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task Proxy_metrics_endpoint_counts_calls_and_histograms_and_tells_two_enclaves_apart()
    {
        var manager = CreateRemoteManager(new RemoteProxyConfig { ProxyMetricsPort = 0 });
        manager.HostCalls.Register("lookup", (_, payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload.Span).ToUpperInvariant())));
        var nameA = UniqueName("metrics-a");
        var nameB = UniqueName("metrics-b");
        var a = await LoadAsync(manager, nameA);
        var b = await LoadAsync(manager, nameB);

        for (var i = 0; i < 5; i++)
        {
            await a.InvokeAsync("echo", new byte[10]).AsTask().WaitAsync(Timeout);
        }

        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<EnclaveException>(() => a.InvokeAsync("throw-status", ReadOnlyMemory<byte>.Empty).AsTask().WaitAsync(Timeout));
        }

        Assert.Equal("ABC", Encoding.UTF8.GetString((await a.InvokeAsync("host", Encoding.UTF8.GetBytes("lookup\nabc")).AsTask().WaitAsync(Timeout)).Span));
        for (var i = 0; i < 3; i++)
        {
            await b.InvokeAsync("echo", new byte[4]).AsTask().WaitAsync(Timeout);
        }

        var (textA, samplesA) = await ScrapeAsync(a);
        TestContext.Current.SendDiagnosticMessage(textA);
        Assert.Contains("# TYPE cloister_call_duration_seconds histogram", textA);
        var echoA = Labels(nameA, "entry", "echo");
        Assert.Equal(5, Sum(samplesA, "cloister_calls_started_total", echoA));
        Assert.Equal(5, Sum(samplesA, "cloister_calls_completed_total", echoA));
        var activeA = Assert.Single(samplesA, s => s.Name == "cloister_calls_active" && s.Label("cloister_enclave_name") == nameA && s.Label("cloister_call_direction") == "entry");
        Assert.Equal(0, activeA.Value);
        Assert.Equal(5, Sum(samplesA, "cloister_call_duration_seconds_count", [.. echoA, ("cloister_status_code", "OK")]));
        Assert.Equal(5, Sum(samplesA, "cloister_call_duration_seconds_bucket", [.. echoA, ("le", "+Inf")]));
        Assert.Equal(50, Sum(samplesA, "cloister_call_request_size_bytes_total", echoA));
        Assert.Equal(50, Sum(samplesA, "cloister_call_response_size_bytes_total", echoA));

        var throwA = Labels(nameA, "entry", "throw-status");
        Assert.Equal(2, Sum(samplesA, "cloister_calls_failed_total", [.. throwA, ("cloister_status_code", "PermissionDenied")]));
        Assert.Equal(0, Sum(samplesA, "cloister_calls_completed_total", throwA));
        Assert.Equal(2, Sum(samplesA, "cloister_call_duration_seconds_count", [.. throwA, ("cloister_status_code", "PermissionDenied")]));

        // The enclave's host call, as the proxy made it; and Initialize, an entry call like any other.
        var lookupA = Labels(nameA, "host_call", "lookup");
        Assert.Equal(1, Sum(samplesA, "cloister_calls_completed_total", lookupA));
        Assert.Equal(3, Sum(samplesA, "cloister_call_response_size_bytes_total", lookupA));
        Assert.Equal(1, Sum(samplesA, "cloister_calls_completed_total", Labels(nameA, "entry", "cloister.initialize")));

        // The proxy process's own figures, tagged with its enclave.
        Assert.True(Sum(samplesA, "cloister_proxy_memory_working_set_bytes", [("cloister_enclave_name", nameA)]) > 0, textA);
        Assert.True(Sum(samplesA, "cloister_proxy_gc_heap_size_bytes", [("cloister_enclave_name", nameA)]) > 0, textA);
        Assert.True(Sum(samplesA, "cloister_proxy_thread_count", [("cloister_enclave_name", nameA)]) > 0, textA);
        Assert.True(Sum(samplesA, "cloister_proxy_cpu_time_seconds_total", [("cloister_enclave_name", nameA)]) > 0, textA);
        Assert.True(Sum(samplesA, "cloister_proxy_uptime_seconds", [("cloister_enclave_name", nameA)]) > 0, textA);
        Assert.All(samplesA.Where(s => s.Labels.ContainsKey("cloister_enclave_name")), s =>
        {
            Assert.Equal(nameA, s.Label("cloister_enclave_name"));
            Assert.Equal(a.Measurement[..12], s.Label("cloister_enclave_measurement"));
        });

        // The other enclave's proxy counts only its own calls.
        var (textB, samplesB) = await ScrapeAsync(b);
        Assert.Equal(3, Sum(samplesB, "cloister_calls_completed_total", Labels(nameB, "entry", "echo")));
        Assert.Equal(12, Sum(samplesB, "cloister_call_request_size_bytes_total", Labels(nameB, "entry", "echo")));
        Assert.DoesNotContain(nameA, textB);
        Assert.DoesNotContain(nameB, textA);

        // `cloister status` reads the same endpoint: health over gRPC-Web, figures from the metrics.
        var status = await ServerStatus.ReadAsync(MetricsUrl(a), TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken).WaitAsync(Timeout);
        var report = string.Join(Environment.NewLine, status.Describe());
        TestContext.Current.SendDiagnosticMessage(report);
        Assert.True(status.IsServing, report);
        Assert.Contains("SERVING", report);
        Assert.Contains($"enclave       {nameA} (backend remote, measurement {a.Measurement[..12]}", report);
        Assert.Contains("entry calls   7 completed, 2 failed (PermissionDenied 2), 0 in flight; p50 ", report); // echo × 5, host, initialize
        // lookup, and the enclave's log line (forwarded to the host's logging by a built-in host call).
        Assert.Matches(@"host calls    \d+ completed, 0 failed, 0 in flight; p50 [0-9.]+ (µs|ms), p99 [0-9.]+ (µs|ms)", report);
        Assert.Matches(@"memory        working set [0-9.]+ MiB, GC heap [0-9.]+ MiB", report);
    }

    [Fact]
    public async Task Provision_server_serves_enclaves_uploads_and_rejections_and_the_host_times_the_upload()
    {
        using var folder = new TempFolder();
        var certs = folder.File("certs");
        DevelopmentCertificates.Create(certs);
        var mtls = new ChannelSecurity
        {
            Type = ChannelSecurityType.MutualTls,
            ServerCertificatePath = Path.Combine(certs, DevelopmentCertificates.Files.ServerCertificate),
            ServerKeyPath = Path.Combine(certs, DevelopmentCertificates.Files.ServerKey),
            CaCertificatePath = Path.Combine(certs, DevelopmentCertificates.Files.Ca),
        };

        // A real server process with room for one enclave, so that a second load is refused for a known reason.
        await using var server = await ProvisionServerProcess.StartAsync(
            "--listen-address", "127.0.0.1:0", "--metrics-port", "0", "--max-enclaves", "1", "--work-dir", folder.File("work"),
            "--security-type", "mtls", "--ssl-ca-cert", mtls.CaCertificatePath, "--ssl-server-cert", mtls.ServerCertificatePath, "--ssl-server-key", mtls.ServerKeyPath);
        var metricsUrl = server.MetricsUrl!;
        Assert.StartsWith("http://127.0.0.1:", metricsUrl);

        var exported = new List<MetricSnapshot>();
        using var meters = CollectMetrics(exported);
        var manager = CreateRemoteManager(new RemoteProxyConfig
        {
            Security = mtls,
            HostAddress = "127.0.0.1:0",
            ProvisionServer = new RemoteProvisionOptions { ServerAddress = server.Address },
        });
        var name = UniqueName("uploaded");
        var client = await LoadAsync(manager, name);
        Assert.Equal("up", (await client.EnterAndRunAsync(new EnclaveInput { Text = "up" }).AsTask().WaitAsync(Timeout)).Text);
        var refused = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, name + "-2"));
        Assert.Equal(EnclaveStatusCode.ResourceExhausted, refused.StatusCode);

        var (text, samples) = await ScrapeAsync(metricsUrl);
        TestContext.Current.SendDiagnosticMessage(text);
        Assert.Contains("# TYPE cloister_provision_server_rejections_total counter", text);
        Assert.Equal(1, Sum(samples, "cloister_provision_server_enclaves", []));
        Assert.Equal(0, Sum(samples, "cloister_provision_server_uploads_active", []));
        Assert.Equal(new FileInfo(enclave.PackagePath).Length, Sum(samples, "cloister_provision_server_upload_size_bytes_total", []));
        Assert.Equal(1, Sum(samples, "cloister_provision_server_rejections_total", [("cloister_rejection_reason", "limit")]));
        Assert.Equal(1, Sum(samples, "cloister_provision_server_rejections_total", []));
        // Every reason is a series from the start (zeros included), and only those: the label's values are a fixed set.
        Assert.Equal(
            ["invalid_package", "invalid_request", "launch_failed", "limit", "not_allowed", "stopping", "too_large", "unauthenticated", "upload_failed"],
            samples.Where(s => s.Name == "cloister_provision_server_rejections_total").Select(s => s.Label("cloister_rejection_reason")).Order(StringComparer.Ordinal));

        // `cloister status` against the same endpoint.
        var status = await ServerStatus.ReadAsync(metricsUrl, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken).WaitAsync(Timeout);
        var report = string.Join(Environment.NewLine, status.Describe());
        TestContext.Current.SendDiagnosticMessage(report);
        Assert.True(status.IsServing, report);
        Assert.StartsWith($"Provision server at {new Uri(metricsUrl).GetLeftPart(UriPartial.Authority)}/: SERVING", report);
        Assert.Contains("enclaves      1 running", report);
        Assert.Matches(@"uploads       0 in flight, [0-9.]+ (KiB|MiB) received", report);
        Assert.Contains("rejections    1 (limit 1)", report);

        // The host timed the upload as a stage of its own, next to the others.
        meters.ForceFlush();
        var points = Points(exported, name);
        foreach (var stage in new[] { "upload", "spawn", "connect", "initialize" })
        {
            Assert.Equal(1, HistogramCount(points, "cloister.enclave.provision.duration", [("cloister.provision.stage", stage)]));
        }

        // Destroyed: the server's count goes back to zero and its proxy's exit is counted there.
        await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        var deadline = DateTime.UtcNow + Timeout;
        while ((samples = (await ScrapeAsync(metricsUrl)).Samples) is var current && Sum(current, "cloister_provision_server_enclaves", []) != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"The provision server still counts an enclave after its destruction:{Environment.NewLine}{server.Output}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Equal(1, Sum(samples, "cloister_proxy_exits_total", [("cloister_enclave_name", name), ("cloister_proxy_exit_reason", "normal")]));
        Assert.True(await server.StopAsync() == 0, server.Output);
    }

    [Fact]
    public async Task Host_measures_calls_loads_stages_destroys_and_proxy_exits_per_enclave()
    {
        var exported = new List<MetricSnapshot>();
        using var meters = CollectMetrics(exported);
        var manager = CreateRemoteManager(new RemoteProxyConfig());
        var name = UniqueName("host-metrics");
        var client = await LoadAsync(manager, name);
        for (var i = 0; i < 4; i++)
        {
            await client.InvokeAsync("reverse", new byte[8]).AsTask().WaitAsync(Timeout);
        }

        await Assert.ThrowsAsync<EnclaveException>(() => client.InvokeAsync("throw", ReadOnlyMemory<byte>.Empty).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<EnclaveException>(() => client.InvokeAsync("host", Encoding.UTF8.GetBytes("not-registered\n")).AsTask().WaitAsync(Timeout));
        await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        meters.ForceFlush();

        var points = Points(exported, name);
        var reverse = new[] { ("cloister.call.side", "host"), ("cloister.call.direction", "entry"), ("cloister.call.selector", "reverse") };
        Assert.Equal(4, LongSum(points, "cloister.calls.completed", reverse));
        Assert.Equal(32, LongSum(points, "cloister.call.request.size", reverse));
        Assert.Equal(4, HistogramCount(points, "cloister.call.duration", [.. reverse, ("cloister.status_code", "OK")]));
        Assert.Equal(1, LongSum(points, "cloister.calls.failed", [("cloister.call.selector", "throw"), ("cloister.status_code", "Unknown")]));
        // A host call the host has no handler for: counted, under one tag value whatever the enclave asked for.
        Assert.Equal(1, LongSum(points, "cloister.calls.failed",
            [("cloister.call.direction", "host_call"), ("cloister.call.selector", HostCallRegistry.UnregisteredSelector), ("cloister.status_code", "Unimplemented")]));
        Assert.Equal(1, LongSum(points, "cloister.enclave.loads", [("cloister.backend", "remote"), ("cloister.status_code", "OK")]));
        Assert.Equal(1, HistogramCount(points, "cloister.enclave.load.duration", [("cloister.status_code", "OK")]));
        foreach (var stage in new[] { "spawn", "connect", "initialize" })
        {
            Assert.Equal(1, HistogramCount(points, "cloister.enclave.provision.duration", [("cloister.provision.stage", stage)]));
        }

        Assert.Equal(1, LongSum(points, "cloister.enclave.destroys", []));
        Assert.Equal(1, LongSum(points, "cloister.proxy.exits", [("cloister.proxy.exit.reason", "normal")]));

        // A failed load is counted with its status.
        await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, name + "-bad", ("FAIL_INIT_STATUS", "no")));
        meters.ForceFlush();
        Assert.Equal(1, LongSum(Points(exported, name + "-bad"), "cloister.enclave.loads", [("cloister.status_code", "FailedPrecondition")]));
    }

    [Fact]
    public async Task One_trace_links_host_enclave_and_host_calls_across_the_communicator()
    {
        // The proxy runs in this process (a real ProxyServer on a real socket) so its spans reach the same exporter;
        // everything between the two sides still crosses the wire, trace context included.
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddCloisterInstrumentation().AddInMemoryExporter(spans).Build();
        var manager = CreateRemoteManager(new RemoteProxyConfig { Provision = _ => new InProcessProxyProvision() });
        RegisterFibonacci(manager);
        var name = UniqueName("traced");
        var client = await LoadAsync(manager, name);

        var reply = await client.InvokeAsync("fib", BitConverter.GetBytes(2)).AsTask().WaitAsync(Timeout);
        Assert.Equal(1L, BinaryPrimitives.ReadInt64LittleEndian(reply.Span));
        tracing.ForceFlush();

        // fib(2): host → enclave fib(2) → host fib(1) → enclave fib(1): each crossing measured on both sides.
        var chain = Chain(Snapshot(spans), name, "fib");
        Assert.Equal(
            new[] { "Client entry fib", "Server entry fib", "Client host_call fib", "Server host_call fib", "Client entry fib", "Server entry fib" },
            chain.Select(Describe));
        Assert.All(chain, span => Assert.Equal(chain[0].TraceId, span.TraceId));
        Assert.All(chain.Skip(1).Zip(chain), pair => Assert.Equal(pair.Second.SpanId, pair.First.ParentSpanId));
    }

    [Fact]
    public async Task Host_spans_link_across_a_proxy_process_that_records_no_spans()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddCloisterInstrumentation().AddInMemoryExporter(spans).Build();
        var manager = CreateRemoteManager(new RemoteProxyConfig());
        RegisterFibonacci(manager);
        var name = UniqueName("traced-process");
        var client = await LoadAsync(manager, name);

        await client.InvokeAsync("fib", BitConverter.GetBytes(2)).AsTask().WaitAsync(Timeout);
        tracing.ForceFlush();

        // The proxy passes on the trace context it received, so the host call's span is the entry call's child.
        var chain = Chain(Snapshot(spans), name, "fib");
        Assert.Equal(new[] { "Client entry fib", "Server host_call fib", "Client entry fib" }, chain.Select(Describe));
        Assert.All(chain, span => Assert.Equal(chain[0].TraceId, span.TraceId));
        Assert.All(chain.Skip(1).Zip(chain), pair => Assert.Equal(pair.Second.SpanId, pair.First.ParentSpanId));
        Assert.Equal(ActivityStatusCode.Unset, chain[0].Status);
    }

    [Fact]
    public async Task Selectors_past_the_limit_share_one_series_and_keep_their_span_names()
    {
        var exported = new List<MetricSnapshot>();
        var spans = new List<Activity>();
        using var meters = CollectMetrics(exported);
        using var tracing = Sdk.CreateTracerProviderBuilder().AddCloisterInstrumentation().AddInMemoryExporter(spans).Build();
        var manager = new EnclaveManager();
        _managers.Add(manager);
        var name = UniqueName("selectors");
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = name, PackagePath = enclave.PackagePath }).AsTask().WaitAsync(Timeout);

        // 1,004 unknown selectors fail (Unimplemented) and are counted: Initialize's and the first 999 get series of their
        // own (the limit is 1,000 per enclave and direction), the last five share "(other)".
        for (var i = 0; i < 1004; i++)
        {
            await Assert.ThrowsAsync<EnclaveException>(() => client.InvokeAsync($"unknown.{i}", ReadOnlyMemory<byte>.Empty).AsTask().WaitAsync(Timeout));
        }

        // Past the limit, one of the first selectors still counts in its own series; two past it alternate in "(other)".
        foreach (var selector in new[] { "unknown.0", "unknown.1003", "unknown.1002", "unknown.1003" })
        {
            await Assert.ThrowsAsync<EnclaveException>(() => client.InvokeAsync(selector, ReadOnlyMemory<byte>.Empty).AsTask().WaitAsync(Timeout));
        }

        await client.InvokeAsync("reverse", new byte[4]).AsTask().WaitAsync(Timeout);
        meters.ForceFlush();
        tracing.ForceFlush();

        var entry = Points(exported, name).Where(p => p.Name.StartsWith("cloister.call", StringComparison.Ordinal) && (string?)p.Tags["cloister.call.direction"] == "entry").ToList();
        string Selector((string Name, Dictionary<string, object?> Tags, MetricPoint Point) p) => (string)p.Tags["cloister.call.selector"]!;
        var started = entry.Where(p => p.Name == "cloister.calls.started").ToList();
        Assert.Equal(1001, started.Count); // 1,000 selectors (Initialize's among them) and "(other)"
        Assert.Equal(999, started.Count(p => Selector(p).StartsWith("unknown.", StringComparison.Ordinal)));
        Assert.DoesNotContain(started, p => Selector(p) == "unknown.1003");
        Assert.Equal(2, LongSum(entry, "cloister.calls.failed", [("cloister.call.selector", "unknown.0")]));
        Assert.Equal(8, LongSum(entry, "cloister.calls.failed", [("cloister.call.selector", "(other)")]));
        Assert.Equal(1008, LongSum(entry, "cloister.calls.failed", [("cloister.status_code", "Unimplemented")]));
        Assert.Equal(1, LongSum(entry, "cloister.calls.completed", [("cloister.call.selector", "(other)")]));
        Assert.Equal(started.Sum(p => p.Point.GetSumLong()), LongSum(entry, "cloister.calls.completed", []) + LongSum(entry, "cloister.calls.failed", []));
        Assert.Equal(0, LongSum(entry, "cloister.calls.active", []));

        // Spans keep the name the caller used; their selector attribute is the series they count in.
        var late = Snapshot(spans).Where(s => (string?)s.GetTagItem("cloister.enclave.name") == name && s.DisplayName == "entry unknown.1003").ToList();
        Assert.Equal(3, late.Count);
        Assert.All(late, s => Assert.Equal("(other)", s.GetTagItem("cloister.call.selector")));
    }

    [Fact]
    public async Task Failed_calls_are_error_spans_with_their_status_code()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddCloisterInstrumentation().AddInMemoryExporter(spans).Build();
        var manager = new EnclaveManager();
        _managers.Add(manager);
        var name = UniqueName("traced-sim");
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = name, PackagePath = enclave.PackagePath }).AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAsync<EnclaveException>(() => client.InvokeAsync("throw-status", ReadOnlyMemory<byte>.Empty).AsTask().WaitAsync(Timeout));
        tracing.ForceFlush();

        var span = Assert.Single(Snapshot(spans), s => (string?)s.GetTagItem("cloister.enclave.name") == name && (string?)s.GetTagItem("cloister.call.selector") == "throw-status");
        Assert.Equal("entry throw-status", span.DisplayName);
        Assert.Equal(ActivityKind.Client, span.Kind);
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("the enclave says no", span.StatusDescription);
        Assert.Equal("PermissionDenied", span.GetTagItem("cloister.status_code"));
        Assert.Equal("sim", span.GetTagItem("cloister.backend"));
    }

    /// <summary>
    /// OpenTelemetry collecting Cloister's metrics into <paramref name="exported"/>. The observable counters report every
    /// enclave this test process has loaded (one test alone makes 1,001 series), so the limit per metric is raised above
    /// OpenTelemetry's default of 2,000, which would otherwise drop series depending on which tests ran first.
    /// </summary>
    private static MeterProvider CollectMetrics(List<MetricSnapshot> exported) =>
        Sdk.CreateMeterProviderBuilder()
            .AddCloisterInstrumentation()
            .AddView("cloister.*", new MetricStreamConfiguration { CardinalityLimit = 20_000 })
            .AddInMemoryExporter(exported)
            .Build();

    private EnclaveManager CreateRemoteManager(RemoteProxyConfig config)
    {
        config.ConnectTimeout = TimeSpan.FromSeconds(20);
        var backend = new RemoteBackend(config);
        _backends.Add(backend);
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        var manager = new EnclaveManager(options);
        _managers.Add(manager);
        return manager;
    }

    private Task<EnclaveClient> LoadAsync(EnclaveManager manager, string name, params (string Key, string Value)[] environment)
    {
        var config = new EnclaveLoadConfig { Name = name, PackagePath = enclave.PackagePath, Backend = RemoteBackend.BackendName, Config = new EnclaveConfig() };
        foreach (var (key, value) in environment)
        {
            config.Config.Environment[key] = value;
        }

        return manager.LoadEnclaveAsync(config, TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout);
    }

    private static void RegisterFibonacci(EnclaveManager manager) =>
        manager.HostCalls.Register("fib", (context, payload, cancellationToken) => context.Enclave.InvokeAsync("fib", payload, cancellationToken));

    private static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private static string MetricsUrl(EnclaveClient client) =>
        ((ProxyClient)client.Transport!).MetricsEndpoint ?? throw new InvalidOperationException($"The proxy of '{client.Name}' reported no metrics endpoint.");

    private static Task<(string Text, List<PrometheusSample> Samples)> ScrapeAsync(EnclaveClient client)
    {
        var url = MetricsUrl(client);
        Assert.StartsWith("http://127.0.0.1:", url);
        return ScrapeAsync(url);
    }

    private static async Task<(string Text, List<PrometheusSample> Samples)> ScrapeAsync(string url)
    {
        var text = await Http.GetStringAsync(url, TestContext.Current.CancellationToken).WaitAsync(Timeout);
        return (text, PrometheusText.Parse(text));
    }

    private static (string, string)[] Labels(string enclaveName, string direction, string selector) =>
    [
        ("cloister_enclave_name", enclaveName), ("cloister_backend", "remote"), ("cloister_call_side", "proxy"),
        ("cloister_call_direction", direction), ("cloister_call_selector", selector),
    ];

    private static double Sum(List<PrometheusSample> samples, string name, (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Label(l.Key) == l.Value)).Sum(s => s.Value);

    private static List<(string Name, Dictionary<string, object?> Tags, MetricPoint Point)> Points(List<MetricSnapshot> exported, string enclaveName)
    {
        // Cumulative temporality: the last export of a metric holds its totals.
        var latest = exported.GroupBy(m => m.Name).Select(g => g.Last());
        var points = new List<(string, Dictionary<string, object?>, MetricPoint)>();
        foreach (var metric in latest)
        {
            foreach (var point in metric.MetricPoints)
            {
                var tags = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var tag in point.Tags)
                {
                    tags[tag.Key] = tag.Value;
                }

                if (tags.TryGetValue("cloister.enclave.name", out var tagged) && (string?)tagged == enclaveName)
                {
                    points.Add((metric.Name, tags, point));
                }
            }
        }

        return points;
    }

    private static IEnumerable<MetricPoint> Matching(List<(string Name, Dictionary<string, object?> Tags, MetricPoint Point)> points, string name, (string Key, string Value)[] tags) =>
        points.Where(p => p.Name == name && tags.All(t => p.Tags.TryGetValue(t.Key, out var v) && (string?)v == t.Value)).Select(p => p.Point);

    private static long LongSum(List<(string Name, Dictionary<string, object?> Tags, MetricPoint Point)> points, string name, (string Key, string Value)[] tags) =>
        Matching(points, name, tags).Sum(p => p.GetSumLong());

    private static long HistogramCount(List<(string Name, Dictionary<string, object?> Tags, MetricPoint Point)> points, string name, (string Key, string Value)[] tags) =>
        Matching(points, name, tags).Sum(p => p.GetHistogramCount());

    private static List<Activity> Snapshot(List<Activity> spans)
    {
        lock (spans)
        {
            return [.. spans];
        }
    }

    /// <summary>The spans of one call tree, root first, following each span to its only child.</summary>
    private static List<Activity> Chain(List<Activity> spans, string enclaveName, string selector)
    {
        var mine = spans.Where(s => (string?)s.GetTagItem("cloister.enclave.name") == enclaveName && (string?)s.GetTagItem("cloister.call.selector") == selector).ToList();
        var ids = mine.Select(s => s.SpanId).ToHashSet();
        var chain = new List<Activity> { Assert.Single(mine, s => !ids.Contains(s.ParentSpanId)) };
        while (mine.SingleOrDefault(s => s.ParentSpanId == chain[^1].SpanId) is { } child)
        {
            chain.Add(child);
        }

        Assert.True(chain.Count == mine.Count, $"Not one chain: {string.Join(", ", mine.Select(s => $"{Describe(s)} {s.SpanId}<-{s.ParentSpanId}"))}");
        return chain;
    }

    // Host side: entry calls are clients, host calls servers; the proxy the other way round.
    private static string Describe(Activity span) => $"{span.Kind} {span.DisplayName}";

    /// <summary>Runs a real <see cref="ProxyServer"/> in this process instead of a child process.</summary>
    private sealed class InProcessProxyProvision : IRemoteProvision
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource<ProxyExitStatus> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<ProxyExitStatus> Exited => _exited.Task;

        public string RecentOutput => string.Empty;

        public string? ProxyHost => null;

        public ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken)
        {
            var options = new ProxyServerOptions
            {
                ClientAddress = request.ClientAddress,
                PackagePath = request.PackagePath,
                EnclaveName = request.EnclaveName,
                SessionToken = request.SessionToken,
                Security = request.Security,
            };

            // Not the loading host call's context: the proxy starts with nothing of the host's (no Activity.Current).
            Task<int> run;
            using (ExecutionContext.SuppressFlow())
            {
                run = Task.Run(() => ProxyServer.RunAsync(options, NullLoggerFactory.Instance, _stop.Token));
            }

            run.ContinueWith(t => _exited.TrySetResult(new ProxyExitStatus(t.IsCompletedSuccessfully ? t.Result : 1)), TaskScheduler.Default);
            return ValueTask.CompletedTask;
        }

        public async ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default)
        {
            try
            {
                await Exited.WaitAsync(gracePeriod, cancellationToken);
            }
            catch (TimeoutException)
            {
                await _stop.CancelAsync();
                await Exited.WaitAsync(Timeout, cancellationToken);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await FinalizeAsync(TimeSpan.FromSeconds(5));
            _stop.Dispose();
        }
    }
}
