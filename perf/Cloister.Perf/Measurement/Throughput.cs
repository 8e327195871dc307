namespace Cloister.Perf.Measurement;

/// <summary>Calls completed over time, summed over the slices of a comparison.</summary>
internal sealed class Throughput(string name)
{
    private long _calls;
    private TimeSpan _elapsed;

    public string Name { get; } = name;

    /// <summary>Where the round trips of the calls are recorded too; null to count them only.</summary>
    public LatencySamples? Latency { get; init; }

    public double PerSecond => _elapsed > TimeSpan.Zero ? _calls / _elapsed.TotalSeconds : double.NaN;

    public void Add(long calls, TimeSpan elapsed)
    {
        _calls += calls;
        _elapsed += elapsed;
    }

    public override string ToString() => $"{Name}: {PerSecond:#,0} calls/s ({_calls} calls in {_elapsed.TotalSeconds:0.0} s)"
        + (Latency is { Count: > 0 } latency ? $"; {latency}" : "");
}
