namespace Cloister.Perf;

/// <summary>
/// How a <c>serve-…</c> command of this program lives: until its standard input closes (the runner ended, however it
/// ended), its parent process is gone, or Ctrl+C / SIGTERM.
/// </summary>
internal static class ChildServerLifetime
{
    public static async Task WaitForStopAsync(int? parentPid, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var parentWatch = parentPid is { } pid ? new Timer(_ => StopIfGone(pid, stop), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)) : null;
        // The blocking read gets a thread of its own: on a thread-pool thread it would hold one of the pool's few threads
        // (as many as cores, two here) for the server's whole life, and the server would have one fewer to serve with.
        var stdinClosed = Console.IsInputRedirected
            ? Task.Factory.StartNew(() => Console.In.ReadToEnd(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.Delay(Timeout.Infinite, stop.Token);
        try
        {
            await stdinClosed.WaitAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Parent gone or Ctrl+C: stop either way.
        }
    }

    private static void StopIfGone(int pid, CancellationTokenSource stop)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            if (!process.HasExited)
            {
                return;
            }
        }
        catch (ArgumentException)
        {
            // No such process.
        }

        stop.Cancel();
    }
}
