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
        var stdinClosed = Console.IsInputRedirected ? Task.Run(() => Console.In.ReadToEnd(), CancellationToken.None) : Task.Delay(Timeout.Infinite, stop.Token);
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
