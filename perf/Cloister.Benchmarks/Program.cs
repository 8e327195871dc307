using BenchmarkDotNet.Running;

namespace Cloister.Benchmarks;

/// <summary>
/// Runs Cloister's micro-benchmarks. Everything: <c>dotnet run -c Release --project perf/Cloister.Benchmarks -- --filter '*'</c>;
/// quick: add <c>--job short</c>. See perf/README.md.
/// </summary>
public static class Program
{
    /// <summary>Hands the command line to BenchmarkDotNet (filters, jobs, exporters).</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
