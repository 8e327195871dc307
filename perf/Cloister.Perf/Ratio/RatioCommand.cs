using System.CommandLine;
using Cloister.Perf.Measurement;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Ratio;

/// <summary>
/// <c>ratio</c>: runs the side-by-side suite, prints the table and writes it as JSON. Exits 0 whether or not the goals
/// are met; 1 only when something could not be measured at all (the error says what).
/// </summary>
internal static class RatioCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "Fewer, shorter rounds: about 2 minutes on 2 cores (default: about 5 minutes)." };
        var output = new Option<string?>("--output") { Description = "Where to write the JSON (default: perf/results/ratio.json in the repository)." };
        var transport = new Option<string>("--transport") { Description = "unix, tcp or both, for figures 1-6 (7-11 run over TCP).", DefaultValueFactory = _ => "both" };
        transport.AcceptOnlyFromAmong("unix", "tcp", "both");
        var only = new Option<int[]>("--only") { Description = "Measure only these figures (1-11), e.g. --only 1 3; for investigations.", AllowMultipleArgumentsPerToken = true };
        var command = new Command("ratio", "Measure Cloister's remote backend against bare grpc-dotnet, same run, loopback only.") { quick, output, transport, only };
        command.SetAction((result, cancellationToken) => RunAsync(
            result.GetValue(quick) ? RunSettings.Quick : RunSettings.Full,
            result.GetValue(output) ?? DefaultOutput(),
            result.GetValue(transport) switch { "unix" => [Transport.Unix], "tcp" => [Transport.Tcp], _ => [Transport.Unix, Transport.Tcp] },
            result.GetValue(only) is { Length: > 0 } selected ? selected.ToHashSet() : Enumerable.Range(1, 11).ToHashSet(),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(RunSettings settings, string output, Transport[] transports, HashSet<int> selected, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        var machine = Report.Machine();
        Console.Error.WriteLine($"Cloister ratio runner ({settings.Mode}), {started:yyyy-MM-dd HH:mm} UTC, {machine}");
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(LogLevel.Warning));
        var runner = new RatioRunner(settings, selected, loggerFactory, Console.Error);
        IReadOnlyList<Figure> figures;
        try
        {
            figures = await runner.RunAsync(transports, cancellationToken);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C or SIGTERM: whatever the interrupted call threw, the run was stopped, not failed.
            Console.Error.WriteLine("Stopped; nothing written.");
            return 130;
        }
        catch (Exception ex) when (ex is EnclaveException or InvalidOperationException or IOException or Grpc.Core.RpcException)
        {
            Console.Error.WriteLine($"error: the run could not measure: {ex.Message}");
            return 1;
        }

        var elapsed = DateTimeOffset.UtcNow - started;
        Console.WriteLine();
        Console.WriteLine($"Cloister ratio runner ({settings.Mode}) — {started:yyyy-MM-dd HH:mm} UTC, {elapsed.TotalSeconds:0} s — {machine}");
        Console.WriteLine("Ratio = Cloister / floor; floor = bare grpc-dotnet between two processes, same run, same transport.");
        Console.WriteLine();
        Console.Write(Report.Table(figures));
        Console.WriteLine();
        Console.WriteLine("Details:");
        foreach (var line in runner.Details)
        {
            Console.WriteLine("  " + line);
        }

        await Report.WriteJsonAsync(figures, output, CancellationToken.None);
        Console.WriteLine();
        var goals = figures.Where(f => f.HasGoal).ToList();
        var met = goals.Count > 0 ? $"{goals.Count(f => f.Met)} of {goals.Count} goals met" : "figures for information only, no goals";
        Console.WriteLine($"{met}{(runner.StoppedAtLimit ? " (stopped at the time limit)" : "")}; written to {output}");
        return 0;
    }

    /// <summary>perf/results/ratio.json in the repository this program was built from (found from its output folder).</summary>
    private static string DefaultOutput()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Cloister.slnx")))
            {
                return Path.Combine(directory.FullName, "perf", "results", "ratio.json");
            }
        }

        return Path.GetFullPath(Path.Combine("perf", "results", "ratio.json"));
    }
}
