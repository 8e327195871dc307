using System.Diagnostics;
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
/// Figure 6: what Cloister's metrics and tracing cost a remote entry call (64 B, p50). The floor is the call with nobody
/// listening in this process; the value is the same call observed as an app would observe it: OpenTelemetry collecting
/// Cloister's metrics and spans (<c>AddCloisterInstrumentation()</c>, exporters that drop everything, so the cost is
/// Cloister's recording and the SDK's aggregation, not a network), the trace context crossing the wire. One enclave, whose
/// proxy has a metrics endpoint (<c>ProxyMetricsPort = 0</c>) and so measures its side in both (a proxy's listeners cannot
/// be switched per block; its side costs about 0.2 µs a call, see TelemetryOverheadBenchmarks). OpenTelemetry is switched
/// on for the observed blocks only (listeners are process-wide), between blocks, outside the timed calls, each block after
/// a full GC so that the garbage of switching does not fall on either side.
/// </summary>
internal sealed class TelemetryOverhead(RunSettings settings, ILoggerFactory loggerFactory, TextWriter progress)
{
    private string _label = "unix";

    public LatencySamples Off { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, nobody listening in the host", settings.LatencyMaxCalls);

    public LatencySamples On { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, host metrics + tracing on", settings.LatencyMaxCalls);

    public LatencySamples Suppressed { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, call by call: unobserved", settings.LatencyMaxCalls);

    public LatencySamples Observed { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, call by call: observed", settings.LatencyMaxCalls);

    public async Task MeasureAsync(Transport transport, string package, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        _label = transport == Transport.Unix ? "unix" : "tcp";
        var hostAddress = transport == Transport.Unix ? null : "127.0.0.1:0";
        progress.WriteLine($"[{_label}] loading the bench enclave, its proxy with a metrics endpoint");
        await using var host = new RemoteHost(hostAddress, children, loggerFactory, proxyMetricsPort: 0);
        var client = await host.LoadAsync("telemetry", package, cancellationToken);

        var small = new byte[64];
        Random.Shared.NextBytes(small);
        Operation call = async ct => await client.InvokeAsync(BenchSelectors.Echo, small, ct);

        progress.WriteLine($"[{_label}] warming up");
        await Sampler.WarmUpAsync(call, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        using (Observe())
        {
            await Sampler.WarmUpAsync(call, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        }

        progress.WriteLine($"[{_label}] 64 B entry calls, telemetry on and off in turns ({settings.LatencyTime.TotalSeconds:0} s)");

        // Blocks five times the other figures' (500 calls by default): fewer switches of OpenTelemetry between them.
        var block = settings.LatencyBlock * 5;
        var deadline = DateTime.UtcNow + settings.LatencyTime;
        for (var cycle = 0; DateTime.UtcNow < deadline && !cancellationToken.IsCancellationRequested && !(On.IsFull && Off.IsFull); cycle++)
        {
            for (var k = 0; k < 2; k++)
            {
                if ((k + cycle) % 2 == 0)
                {
                    using var listening = Observe();
                    Settle();
                    await Sampler.RecordAsync(call, On, block, deadline - DateTime.UtcNow, cancellationToken);
                }
                else
                {
                    Settle();
                    await Sampler.RecordAsync(call, Off, block, deadline - DateTime.UtcNow, cancellationToken);
                }
            }
        }

        await MeasureCallByCallAsync(call, cancellationToken);
    }

    /// <summary>
    /// The same difference in the steady state of one process: OpenTelemetry on all along, and every other call made as if
    /// nobody listened (<c>CloisterTelemetry.SuppressCallObservation</c>, which sends the host down the bare path, no span
    /// and no trace context). Neighbouring calls share the machine's moment, so this resolves a few tenths of a microsecond
    /// where blocks of each vary by a few microseconds; and nothing is switched on or collected between them, so no block
    /// starts after a GC or with listeners just built.
    /// </summary>
    private async Task MeasureCallByCallAsync(Operation call, CancellationToken cancellationToken)
    {
        progress.WriteLine($"[{_label}] 64 B entry calls, observed and unobserved call by call ({settings.LatencyTime.TotalSeconds / 2:0} s)");
        using var listening = Observe();
        await Sampler.WarmUpAsync(call, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        // Strictly one of each in turn, not Sampler.RecordInterleavedAsync with blocks of one call: that rotates the order
        // every cycle, so half the calls would follow one of their own kind and half the other.
        var deadline = Stopwatch.GetTimestamp() + (long)(settings.LatencyTime.TotalSeconds / 2 * Stopwatch.Frequency);
        try
        {
            for (var i = 0; !(Observed.IsFull && Suppressed.IsFull) && Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested; i++)
            {
                var observed = (i & 1) == 0;
                CloisterTelemetry.SuppressCallObservation = !observed;
                var start = Stopwatch.GetTimestamp();
                await call(cancellationToken);
                (observed ? Observed : Suppressed).Add(Stopwatch.GetTimestamp() - start);
            }
        }
        finally
        {
            CloisterTelemetry.SuppressCallObservation = false;
        }
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    public IEnumerable<Figure> Figures() =>
    [
        Ratio.Figure.AtMost($"6 entry call 64 B p50, host metrics + tracing on vs off ({_label})", "us", Off.P50, On.P50, 1.03),
        Ratio.Figure.AtMost($"6 the same, call by call: observed vs unobserved ({_label})", "us", Suppressed.P50, Observed.P50, 1.03),
    ];

    public IEnumerable<string> Describe() =>
        new[] { Off, On, Suppressed, Observed }.Where(s => s.Count > 0).Select(s => $"[{_label}] {s}");

    /// <summary>
    /// OpenTelemetry as a host app sets it up for Cloister, until disposed. The reader and the span processor are the ones
    /// without a thread of their own (an app would use the periodic reader and the batch processor, whose per-call work is
    /// the same): switched on and off between blocks, threads would be started and stopped next to the measured calls.
    /// </summary>
    private static Listening Observe() => new(
        Sdk.CreateMeterProviderBuilder()
            .AddCloisterInstrumentation()
            // A small cardinality limit: each switch would otherwise allocate room for 2,000 series per metric.
            .AddView("cloister.*", new MetricStreamConfiguration { CardinalityLimit = 100 })
            .AddReader(new BaseExportingMetricReader(new DiscardingExporter<Metric>()))
            .Build(),
        Sdk.CreateTracerProviderBuilder()
            .AddCloisterInstrumentation()
            .SetSampler(new AlwaysOnSampler())
            .AddProcessor(new SimpleActivityExportProcessor(new DiscardingExporter<System.Diagnostics.Activity>()))
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
