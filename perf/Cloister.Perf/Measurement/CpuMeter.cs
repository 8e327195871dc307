using System.Diagnostics;

namespace Cloister.Perf.Measurement;

/// <summary>
/// The CPU time (user + system, all threads) one process has used. Read around a block of calls on both processes it
/// says where the time of a round trip goes: on a machine with few cores, CPU spent per call is latency.
/// </summary>
internal sealed class CpuMeter(Process process)
{
    public static CpuMeter Self { get; } = new(Process.GetCurrentProcess());

    public static CpuMeter ForProcess(int processId) => new(Process.GetProcessById(processId));

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
