using System.CommandLine;

namespace Cloister.Perf.Bare;

/// <summary>
/// <c>serve-bare</c>: the floor's server, a <see cref="BareServer"/> in a process of its own.
/// The ratio runner starts this same program as a child process; it prints <c>listening &lt;address&gt;</c> once bound
/// and exits when its standard input closes (the runner ended, however it ended), its parent dies, or on Ctrl+C.
/// </summary>
internal static class ServeBareCommand
{
    public const string Name = "serve-bare";

    public const string ListeningPrefix = "listening ";

    public static Command Create()
    {
        var address = new Option<string>("--address") { Description = "Where to listen: ip:port (127.0.0.1:0) or unix:/absolute/path.sock.", Required = true };
        var callback = new Option<string?>("--callback-address") { Description = "Where Relay calls back to (the runner's own bare server)." };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process exits." };
        var command = new Command(Name, "Serve the bare gRPC floor (started by `ratio`; can be run by hand).") { address, callback, parent };
        command.SetAction((result, cancellationToken) => RunAsync(
            BareAddress.Parse(result.GetValue(address)!),
            result.GetValue(callback) is { } relay ? BareAddress.Parse(relay) : null,
            result.GetValue(parent),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(BareAddress address, BareAddress? callback, int? parentPid, CancellationToken cancellationToken)
    {
        await using var server = await BareServer.StartAsync(address, callback, cancellationToken);
        Console.Out.WriteLine(ListeningPrefix + server.Address);
        Console.Out.Flush();
        await ChildServerLifetime.WaitForStopAsync(parentPid, cancellationToken);
        return 0;
    }
}
