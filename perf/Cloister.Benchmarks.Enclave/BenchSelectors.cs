namespace Cloister.Benchmarks;

/// <summary>The bench enclave's selectors; compiled into both the enclave and the benchmarks, which do not reference each other.</summary>
internal static class BenchSelectors
{
    /// <summary>Entry point that returns its payload as is.</summary>
    public const string Echo = "bench.echo";

    /// <summary>Entry point that makes one host call to <see cref="HostEcho"/> and returns its reply.</summary>
    public const string HostCall = "bench.hostcall";

    /// <summary>The host call <see cref="HostCall"/> makes; the benchmark host registers it and echoes.</summary>
    public const string HostEcho = "bench.host.echo";
}
