using System.CommandLine;

namespace Cloister.Perf.Bare;

/// <summary>
/// <c>serve-bare</c>: the floor's server, a <see cref="BareServer"/> in a process of its own.
/// The ratio runner starts this same program as a child process; it prints <c>listening &lt;address&gt;</c> once bound
/// and exits when its standard input closes (the runner ended, however it ended), its parent dies, or on Ctrl+C.
/// </summary>
internal static class ServeBareCommand
{
    public const string ListeningPrefix = "listening ";

    public static Command Create()
    {
        var address = new Option<string>("--address") { Description = "Where to listen: ip:port (127.0.0.1:0) or unix:/absolute/path.sock.", Required = true };
        var callback = new Option<string?>("--callback-address") { Description = "Where Relay calls back to (the runner's own bare server)." };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process exits." };
        var command = new Command("serve-bare", "Serve the bare gRPC floor (started by `ratio`; can be run by hand).") { address, callback, parent };
        command.SetAction((result, cancellationToken) => RunAsync(
            BareAddress.Parse(result.GetValue(address)!),
            result.GetValue(callback) is { } relay ? BareAddress.Parse(relay) : null,
            result.GetValue(parent),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(BareAddress address, BareAddress? callback, int? parentPid, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var server = await BareServer.StartAsync(address, callback, stop.Token);
        Console.Out.WriteLine(ListeningPrefix + server.Address);
        Console.Out.Flush();

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

        return 0;
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
