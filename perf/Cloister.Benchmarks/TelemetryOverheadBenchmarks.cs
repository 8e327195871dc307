using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Cloister.Remote;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Cloister.Benchmarks;

/// <summary>
/// What Cloister's metrics and tracing cost a call, per backend: the same 64-byte echo with nobody listening (the
/// baseline; what every app that does not observe Cloister pays) and with OpenTelemetry collecting Cloister's metrics and
/// spans in the host, as <c>AddCloisterInstrumentation()</c> sets it up, with exporters that drop everything (what is
/// measured is Cloister's recording and the SDK's aggregation, not a network exporter). On <c>remote</c>, "on" also starts
/// the proxy with a metrics endpoint (<c>ProxyMetricsPort = 0</c>), so the proxy measures its side and the trace
/// context crosses the wire. Each benchmark runs in its own process, so the listeners of one never touch the other.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public class TelemetryOverheadBenchmarks
{
    private readonly ReadOnlyMemory<byte> _payload64 = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
    private string _workDirectory = null!;
    private RemoteBackend? _remote;
    private EnclaveManager _manager = null!;
    private EnclaveClient _client = null!;
    private MeterProvider? _meters;
    private TracerProvider? _tracing;

    [GlobalSetup(Target = nameof(SimEntryCall_64B_Off))]
    public Task SetupSimOffAsync() => SetupAsync(remote: false, telemetry: false);

    [GlobalSetup(Target = nameof(SimEntryCall_64B_On))]
    public Task SetupSimOnAsync() => SetupAsync(remote: false, telemetry: true);

    [GlobalSetup(Target = nameof(SimEntryCall_64B_MetricsOnly))]
    public Task SetupSimMetricsAsync() => SetupAsync(remote: false, telemetry: true, tracing: false);

    [GlobalSetup(Target = nameof(SimEntryCall_64B_TracingOnly))]
    public Task SetupSimTracingAsync() => SetupAsync(remote: false, telemetry: true, metrics: false);

    [GlobalSetup(Target = nameof(RemoteEntryCall_64B_Off))]
    public Task SetupRemoteOffAsync() => SetupAsync(remote: true, telemetry: false);

    [GlobalSetup(Target = nameof(RemoteEntryCall_64B_On))]
    public Task SetupRemoteOnAsync() => SetupAsync(remote: true, telemetry: true);

    [GlobalSetup(Target = nameof(RemoteEntryCall_64B_HostOnly))]
    public Task SetupRemoteHostOnlyAsync() => SetupAsync(remote: true, telemetry: true, proxyMetrics: false);

    [GlobalSetup(Target = nameof(RemoteEntryCall_64B_ProxyOnly))]
    public Task SetupRemoteProxyOnlyAsync() => SetupAsync(remote: true, telemetry: true, metrics: false, tracing: false);

    private async Task SetupAsync(bool remote, bool telemetry, bool metrics = true, bool tracing = true, bool proxyMetrics = true)
    {
        if (telemetry && metrics)
        {
            _meters = Sdk.CreateMeterProviderBuilder()
                .AddCloisterInstrumentation()
                .AddReader(new PeriodicExportingMetricReader(new DiscardingExporter<Metric>(), exportIntervalMilliseconds: 10_000))
                .Build();
        }

        if (telemetry && tracing)
        {
            _tracing = Sdk.CreateTracerProviderBuilder()
                .AddCloisterInstrumentation()
                .SetSampler(new AlwaysOnSampler())
                .AddProcessor(new BatchActivityExportProcessor(new DiscardingExporter<System.Diagnostics.Activity>()))
                .Build();
        }

        _workDirectory = BenchEnclaves.CreateWorkDirectory();
        var package = await BenchEnclaves.PackAsync(BenchEnclaves.Bench, _workDirectory);
        var options = new EnclaveManagerOptions();
        if (remote)
        {
            _remote = new RemoteBackend(new RemoteProxyConfig { ProxyMetricsPort = telemetry && proxyMetrics ? 0 : null });
            options.Backends.Add(_remote);
        }

        _manager = new EnclaveManager(options);
        _client = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = "telemetry",
            PackagePath = package,
            Backend = remote ? RemoteBackend.BackendName : SimBackend.BackendName,
        });

        // Fail here, not with a misleading figure, if the echo does not echo or the proxy does not measure.
        var reply = await _client.InvokeAsync(BenchSelectors.Echo, _payload64);
        if (!reply.Span.SequenceEqual(_payload64.Span))
        {
            throw new InvalidOperationException("bench.echo did not echo its payload.");
        }

        if (remote && telemetry && proxyMetrics && ((ProxyClient)_client.Transport!).MetricsEndpoint is null)
        {
            throw new InvalidOperationException("The proxy reported no metrics endpoint.");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _manager.DisposeAsync();
        if (_remote is not null)
        {
            await _remote.DisposeAsync();
        }

        _tracing?.Dispose();
        _meters?.Dispose();
        Directory.Delete(_workDirectory, recursive: true);
    }

    /// <summary>A sim entry call, nobody listening: the same call as <c>SimCallBenchmarks.SimEntryCall_64B</c>.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("sim")]
    public ValueTask<ReadOnlyMemory<byte>> SimEntryCall_64B_Off() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>A sim entry call, measured and traced.</summary>
    [Benchmark]
    [BenchmarkCategory("sim")]
    public ValueTask<ReadOnlyMemory<byte>> SimEntryCall_64B_On() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>A sim entry call, measured (metrics only).</summary>
    [Benchmark]
    [BenchmarkCategory("sim")]
    public ValueTask<ReadOnlyMemory<byte>> SimEntryCall_64B_MetricsOnly() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>A sim entry call, traced (tracing only).</summary>
    [Benchmark]
    [BenchmarkCategory("sim")]
    public ValueTask<ReadOnlyMemory<byte>> SimEntryCall_64B_TracingOnly() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>A remote entry call (Unix socket, proxy process), nobody listening.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("remote")]
    public ValueTask<ReadOnlyMemory<byte>> RemoteEntryCall_64B_Off() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>A remote entry call, measured and traced in the host, measured in the proxy, trace context on the wire.</summary>
    [Benchmark]
    [BenchmarkCategory("remote")]
    public ValueTask<ReadOnlyMemory<byte>> RemoteEntryCall_64B_On() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>Host side only: OpenTelemetry on in the host, the proxy without a metrics endpoint.</summary>
    [Benchmark]
    [BenchmarkCategory("remote")]
    public ValueTask<ReadOnlyMemory<byte>> RemoteEntryCall_64B_HostOnly() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>Proxy side only: nobody listening in the host, the proxy with a metrics endpoint.</summary>
    [Benchmark]
    [BenchmarkCategory("remote")]
    public ValueTask<ReadOnlyMemory<byte>> RemoteEntryCall_64B_ProxyOnly() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>An exporter that drops what it is given: the cost measured is recording and aggregation.</summary>
    private sealed class DiscardingExporter<T> : BaseExporter<T>
        where T : class
    {
        public override ExportResult Export(in Batch<T> batch) => ExportResult.Success;
    }
}
