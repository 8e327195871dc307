using System.Diagnostics;

namespace Cloister.Perf.Measurement;

/// <summary>
/// Round-trip times of one operation, in <see cref="Stopwatch"/> ticks, with a fixed capacity so recording never
/// allocates; and, when <see cref="Server"/> is set, the CPU time both processes spent on those calls.
/// </summary>
internal sealed class LatencySamples(string name, int capacity)
{
    private readonly long[] _ticks = new long[capacity];
    private TimeSpan _clientCpu;
    private TimeSpan _serverCpu;
    private long _cpuCalls;
    private long _clientSwitches;
    private long _serverSwitches;
    private long _switchCalls;

    public string Name { get; } = name;

    public int Count { get; private set; }

    public bool IsFull => Count == _ticks.Length;

    /// <summary>The other process of the round trip, for CPU time per call; null to measure time only.</summary>
    public CpuMeter? Server { get; set; }

    public void Add(long ticks)
    {
        if (Count < _ticks.Length)
        {
            _ticks[Count++] = ticks;
        }
    }

    /// <summary>Adds the round trips one of several concurrent callers recorded (the others may be adding theirs).</summary>
    public void AddConcurrently(List<long> ticks)
    {
        lock (_ticks)
        {
            foreach (var t in ticks)
            {
                Add(t);
            }
        }
    }

    public void AddCpu(TimeSpan client, TimeSpan server, int calls)
    {
        if (client >= TimeSpan.Zero && server >= TimeSpan.Zero)
        {
            _clientCpu += client;
            _serverCpu += server;
            _cpuCalls += calls;
        }
    }

    public void AddContextSwitches(long client, long server, int calls)
    {
        if (client >= 0 && server >= 0)
        {
            _clientSwitches += client;
            _serverSwitches += server;
            _switchCalls += calls;
        }
    }

    /// <summary>The <paramref name="percentile"/> (0–100) in microseconds, or NaN with no samples (nearest rank).</summary>
    public double Microseconds(double percentile)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        var sorted = _ticks.AsSpan(0, Count).ToArray();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)] * 1_000_000.0 / Stopwatch.Frequency;
    }

    public double P50 => Microseconds(50);

    /// <summary>A payload of <paramref name="bytes"/> moved in the p50 time, in MiB/s.</summary>
    public double MiBPerSecond(long bytes) => bytes / (double)(1 << 20) / (P50 / 1_000_000);

    /// <summary>For operations that take milliseconds or more (loads): p50 and max in ms.</summary>
    public string ToMillisecondsString() => $"{Name}: p50 {P50 / 1000:0.0} ms, max {Microseconds(100) / 1000:0.0} ms, n={Count}";

    public override string ToString()
    {
        var text = $"{Name}: p50 {Fixed(P50)}, p90 {Fixed(Microseconds(90))}, p99 {Fixed(Microseconds(99))}, n={Count}";
        if (_cpuCalls > 0)
        {
            text += $"; CPU per call: this process {Fixed(_clientCpu.TotalMicroseconds / _cpuCalls)}, server {Fixed(_serverCpu.TotalMicroseconds / _cpuCalls)}";
        }

        if (_switchCalls > 0)
        {
            text += $"; context switches per call: this process {(double)_clientSwitches / _switchCalls:0.0}, server {(double)_serverSwitches / _switchCalls:0.0}";
        }

        return text;
    }

    private static string Fixed(double microseconds) => microseconds >= 10_000 ? $"{microseconds / 1000:0.0} ms" : $"{microseconds:0.0} µs";
}
