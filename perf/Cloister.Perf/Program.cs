using System.CommandLine;
using Cloister.Perf.Bare;
using Cloister.Perf.Ratio;
using Cloister.Perf.Remote;

namespace Cloister.Perf;

/// <summary>
/// Cloister's side-by-side performance runner. <c>ratio</c> measures Cloister's remote backend against bare grpc-dotnet
/// in the same run (see perf/README.md, "Ratio runner"); <c>serve-bare</c> is the floor's server, which <c>ratio</c>
/// starts as a child process.
/// </summary>
internal static class Program
{
    public static Task<int> Main(string[] args)
    {
        var root = new RootCommand("Cloister's side-by-side ratio runner: Cloister's remote backend against bare grpc-dotnet, same run, loopback only.")
        {
            RatioCommand.Create(),
            ServeBareCommand.Create(),
            ServeProvisionCommand.Create(),
        };

        // Ctrl+C / SIGTERM cancel the run's token; the runner then stops its children in order. After this long the
        // process is ended regardless, and ChildProcessGuard kills what is left.
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(15) });
    }
}
