using System.CommandLine;
using System.Security.Cryptography.X509Certificates;

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
        var certificate = new Option<string?>("--tls-certificate") { Description = "Serve TLS with this PEM certificate (and --tls-key); plaintext without." };
        var key = new Option<string?>("--tls-key") { Description = "The PEM private key of --tls-certificate." };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process exits." };
        var command = new Command(Name, "Serve the bare gRPC floor (started by `ratio`; can be run by hand).") { address, callback, certificate, key, parent };
        command.SetAction((result, cancellationToken) => RunAsync(
            BareAddress.Parse(result.GetValue(address)!),
            result.GetValue(callback) is { } relay ? BareAddress.Parse(relay) : null,
            result.GetValue(certificate) is { } pem ? X509Certificate2.CreateFromPemFile(pem, result.GetValue(key)) : null,
            result.GetValue(parent),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(BareAddress address, BareAddress? callback, X509Certificate2? certificate, int? parentPid, CancellationToken cancellationToken)
    {
        await using var server = await BareServer.StartAsync(address, callback, certificate, cancellationToken);
        Console.Out.WriteLine(ListeningPrefix + server.Address);
        Console.Out.Flush();
        await ChildServerLifetime.WaitForStopAsync(parentPid, cancellationToken);
        return 0;
    }
}
