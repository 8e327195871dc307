using Cloister.Benchmarks;
using Cloister.Perf.Measurement;
using Cloister.Perf.Remote;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Sampler = Cloister.Perf.Measurement.Sampler;

namespace Cloister.Perf.Ratio;

/// <summary>
/// Figure 6: what Cloister's metrics and tracing cost a remote entry call (64 B, p50). The floor is the same call with
/// nobody listening; the value is the call observed as an operator would run it: OpenTelemetry collecting Cloister's
/// metrics and spans in this process (<c>AddCloisterInstrumentation()</c>, exporters that drop everything, so the cost is
/// Cloister's recording and the SDK's aggregation, not a network), and a proxy started with a metrics endpoint
/// (<c>ProxyMetricsPort = 0</c>), so it measures its side and the trace context crosses the wire. Two enclaves, one per
/// proxy, measured in alternating blocks; OpenTelemetry is switched on for the observed blocks only (listeners are
/// process-wide), between blocks, outside the timed calls.
/// </summary>
internal sealed class TelemetryOverhead(RunSettings settings, ILoggerFactory loggerFactory, TextWriter progress)
{
    private string _label = "unix";

    public LatencySamples Off { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, nobody listening", settings.LatencyMaxCalls);

    public LatencySamples On { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, metrics + tracing on (host and proxy)", settings.LatencyMaxCalls);

    public async Task MeasureAsync(Transport transport, string package, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        _label = transport == Transport.Unix ? "unix" : "tcp";
        var hostAddress = transport == Transport.Unix ? null : "127.0.0.1:0";
        progress.WriteLine($"[{_label}] loading two bench enclaves, one with a proxy metrics endpoint");
        await using var plain = new RemoteHost(hostAddress, children, loggerFactory);
        await using var observed = new RemoteHost(hostAddress, children, loggerFactory, proxyMetricsPort: 0);
        var offClient = await plain.LoadAsync("telemetry-off", package, cancellationToken);
        var onClient = await observed.LoadAsync("telemetry-on", package, cancellationToken);

        var small = new byte[64];
        Random.Shared.NextBytes(small);
        Operation off = async ct => await offClient.InvokeAsync(BenchSelectors.Echo, small, ct);
        Operation on = async ct => await onClient.InvokeAsync(BenchSelectors.Echo, small, ct);

        progress.WriteLine($"[{_label}] warming up");
        await Sampler.WarmUpAsync(off, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        using (Observe())
        {
            await Sampler.WarmUpAsync(on, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        }

        progress.WriteLine($"[{_label}] 64 B entry calls, telemetry on and off in turns ({settings.LatencyTime.TotalSeconds:0} s)");
        var deadline = DateTime.UtcNow + settings.LatencyTime;
        for (var cycle = 0; DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested && !(On.IsFull && Off.IsFull); cycle++)
        {
            for (var k = 0; k < 2; k++)
            {
                if ((k + cycle) % 2 == 0)
                {
                    using (Observe())
                    {
                        await Sampler.RecordAsync(on, On, settings.LatencyBlock, deadline - DateTime.UtcNow, cancellationToken);
                    }
                }
                else
                {
                    await Sampler.RecordAsync(off, Off, settings.LatencyBlock, deadline - DateTime.UtcNow, cancellationToken);
                }
            }
        }
    }

    public Figure Figure() =>
        Ratio.Figure.AtMost($"6 entry call 64 B p50, metrics + tracing on vs off ({_label})", "us", Off.P50, On.P50, 1.03);

    public IEnumerable<string> Describe() =>
        new[] { Off, On }.Where(s => s.Count > 0).Select(s => $"[{_label}] {s}");

    /// <summary>OpenTelemetry as a host app sets it up for Cloister, until disposed.</summary>
    private static Listening Observe() => new(
        Sdk.CreateMeterProviderBuilder()
            .AddCloisterInstrumentation()
            .AddReader(new PeriodicExportingMetricReader(new DiscardingExporter<Metric>(), exportIntervalMilliseconds: 10_000))
            .Build(),
        Sdk.CreateTracerProviderBuilder()
            .AddCloisterInstrumentation()
            .SetSampler(new AlwaysOnSampler())
            .AddProcessor(new BatchActivityExportProcessor(new DiscardingExporter<System.Diagnostics.Activity>()))
            .Build());

    private sealed class Listening(MeterProvider meters, TracerProvider tracing) : IDisposable
    {
        public void Dispose()
        {
            tracing.Dispose();
            meters.Dispose();
        }
    }

    private sealed class DiscardingExporter<T> : BaseExporter<T>
        where T : class
    {
        public override ExportResult Export(in Batch<T> batch) => ExportResult.Success;
    }
}
