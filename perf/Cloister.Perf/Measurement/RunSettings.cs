namespace Cloister.Perf.Measurement;

/// <summary>
/// How long and how often the runner measures. Every loop is bounded by a count and a time; <see cref="Limit"/> bounds
/// the whole run (when it passes, the figures measured so far are reported and the rest are n/a).
/// </summary>
internal sealed record RunSettings
{
    public required string Mode { get; init; }

    public required int WarmUpCalls { get; init; }

    public required TimeSpan WarmUpTime { get; init; }

    /// <summary>Figures 1–2: calls per block; the four operations take turns a block at a time.</summary>
    public int LatencyBlock { get; init; } = 100;

    public required int LatencyMaxCalls { get; init; }

    public required TimeSpan LatencyTime { get; init; }

    /// <summary>Figure 3: concurrent callers.</summary>
    public int Callers { get; init; } = 32;

    /// <summary>Figure 3: floor and Cloister take turns this long each.</summary>
    public TimeSpan ThroughputSlice { get; init; } = TimeSpan.FromMilliseconds(250);

    public required TimeSpan ThroughputTime { get; init; }

    /// <summary>Figure 4, per payload size: floor and Cloister take turns a call at a time.</summary>
    public required int BulkMaxCalls { get; init; }

    public required TimeSpan BulkTime { get; init; }

    /// <summary>Figure 5: loads timed, after one untimed load.</summary>
    public required int Loads { get; init; }

    /// <summary>Figure 7: 64 MiB uploads timed on each side, after one untimed each; the two sides take turns.</summary>
    public required int Uploads { get; init; }

    public required TimeSpan UploadTime { get; init; }

    /// <summary>Figures 10–11: the three Translator servers take turns, <see cref="ThroughputSlice"/> each, this long in all.</summary>
    public required TimeSpan ServingTime { get; init; }

    public required TimeSpan Limit { get; init; }

    /// <summary>About two minutes on 2 cores (figures 1–6 about one), plus the build.</summary>
    public static RunSettings Quick { get; } = new()
    {
        Mode = "quick",
        WarmUpCalls = 2_000,
        WarmUpTime = TimeSpan.FromSeconds(0.6),
        LatencyMaxCalls = 10_000,
        LatencyTime = TimeSpan.FromSeconds(6),
        ThroughputTime = TimeSpan.FromSeconds(4),
        BulkMaxCalls = 12,
        BulkTime = TimeSpan.FromSeconds(4),
        Loads = 4,
        Uploads = 4,
        UploadTime = TimeSpan.FromSeconds(20),
        ServingTime = TimeSpan.FromSeconds(6),
        Limit = TimeSpan.FromSeconds(150),
    };

    /// <summary>About five minutes on 2 cores (figures 1–6 about three and a half).</summary>
    public static RunSettings Full { get; } = new()
    {
        Mode = "full",
        WarmUpCalls = 10_000,
        WarmUpTime = TimeSpan.FromSeconds(2),
        LatencyMaxCalls = 100_000,
        LatencyTime = TimeSpan.FromSeconds(30),
        ThroughputTime = TimeSpan.FromSeconds(15),
        BulkMaxCalls = 60,
        BulkTime = TimeSpan.FromSeconds(12),
        Loads = 10,
        Uploads = 12,
        UploadTime = TimeSpan.FromSeconds(60),
        ServingTime = TimeSpan.FromSeconds(24),
        Limit = TimeSpan.FromMinutes(8),
    };
}
