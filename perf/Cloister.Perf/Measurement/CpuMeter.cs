using System.Diagnostics;

namespace Cloister.Perf.Measurement;

/// <summary>
/// The CPU time (user + system, all threads) one process has used. Read around a block of calls on both processes it
/// says where the time of a round trip goes: on a machine with few cores, CPU spent per call is latency.
/// </summary>
internal sealed class CpuMeter(Process process)
{
    private readonly int _processId = process.Id;

    public static CpuMeter Self { get; } = new(Process.GetCurrentProcess());

    public static CpuMeter ForProcess(int processId) => new(Process.GetProcessById(processId));

    /// <summary>
    /// The context switches of the process's threads so far (voluntary and not: each time a thread stopped running), from
    /// /proc; -1 where there is no /proc. A thread that ends between two reads takes its count with it, so a difference
    /// can be a little low, never high. Per call, it counts the wake-ups a round trip costs.
    /// </summary>
    public long ReadContextSwitches()
    {
        var tasks = $"/proc/{_processId}/task";
        if (!Directory.Exists(tasks))
        {
            return -1;
        }

        long total = 0;
        foreach (var task in Directory.EnumerateDirectories(tasks))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        total += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The thread ended meanwhile.
            }
        }

        return total;
    }

    public TimeSpan Read()
    {
        try
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            // It exited; the block it was read around does not count.
            return TimeSpan.Zero;
        }
    }
}
