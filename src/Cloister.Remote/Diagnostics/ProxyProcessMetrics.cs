using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cloister.Remote;

/// <summary>
/// The proxy process's own resource use, tagged with its enclave so that several proxies on one machine are told apart:
/// CPU time, working set, GC heap, threads, uptime. Observed only when scraped. The instruments belong to a meter of
/// their own, named <see cref="CloisterDiagnostics.MeterName"/> like the rest, so disposing it withdraws them.
/// </summary>
internal sealed class ProxyProcessMetrics : IDisposable
{
    private readonly Meter _meter;

    public ProxyProcessMetrics(string enclaveName, string measurementPrefix)
    {
        KeyValuePair<string, object?>[] tags =
        [
            new(CloisterTags.EnclaveName, enclaveName),
            new(CloisterTags.Backend, RemoteBackend.BackendName),
            new(CloisterTags.Measurement, measurementPrefix),
        ];
        DateTime startedUtc;
        using (var process = Process.GetCurrentProcess())
        {
            startedUtc = process.StartTime.ToUniversalTime();
        }

        _meter = new Meter(CloisterDiagnostics.MeterName, CloisterTelemetry.Meter.Version);
        _meter.CreateObservableCounter("cloister.proxy.cpu.time", () => new Measurement<double>(Environment.CpuUsage.TotalTime.TotalSeconds, tags),
            "s", "CPU time the proxy process used, user and kernel.");
        _meter.CreateObservableUpDownCounter("cloister.proxy.memory.working_set", () => new Measurement<long>(Environment.WorkingSet, tags),
            "By", "The proxy process's working set (resident memory).");
        _meter.CreateObservableUpDownCounter("cloister.proxy.gc.heap.size", () => new Measurement<long>(GC.GetTotalMemory(forceFullCollection: false), tags),
            "By", "Bytes allocated on the proxy's managed (GC) heap and not yet collected, as dotnet-counters' \"GC Heap Size\".");
        _meter.CreateObservableUpDownCounter("cloister.proxy.thread.count", () => new Measurement<long>(ThreadCount(), tags),
            "{thread}", "The proxy process's threads.");
        _meter.CreateObservableGauge("cloister.proxy.uptime", () => new Measurement<double>((DateTime.UtcNow - startedUtc).TotalSeconds, tags),
            "s", "How long the proxy process has run.");
    }

    private static long ThreadCount()
    {
        using var process = Process.GetCurrentProcess();
        return process.Threads.Count;
    }

    public void Dispose() => _meter.Dispose();
}
