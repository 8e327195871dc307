using System.CommandLine;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Remote;

/// <summary>
/// <c>serve-provision</c>: a real <see cref="ProvisionServer"/> (what <c>cloister provision-server</c> runs, with the same
/// security flags) in a process of its own, for figures 7 and 8. Like <c>serve-bare</c>, it prints
/// <c>listening &lt;address&gt;</c> once bound and exits when its standard input closes, its parent dies, or on Ctrl+C;
/// the proxies it starts watch it in turn. It logs warnings and errors only, to standard error.
/// </summary>
internal static class ServeProvisionCommand
{
    public const string Name = "serve-provision";

    public const string ListeningPrefix = "listening ";

    public static Command Create()
    {
        var address = new Option<string>("--address") { Description = "Where to listen: ip:port.", DefaultValueFactory = _ => "127.0.0.1:0" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Require 'authorization: Bearer <token>' with the token in this file." };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process exits." };
        var security = new SecurityCommandLine();
        var command = new Command(Name, "Serve a Cloister provision server (started by `ratio`; can be run by hand).") { address, tokenFile, parent };
        security.AddTo(command);
        command.SetAction((result, cancellationToken) => RunAsync(
            new ProvisionServerOptions { ListenAddress = result.GetValue(address)!, TokenFile = result.GetValue(tokenFile), Security = security.Read(result) },
            result.GetValue(parent),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(ProvisionServerOptions options, int? parentPid, CancellationToken cancellationToken)
    {
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(LogLevel.Warning));
        await using var server = await ProvisionServer.StartAsync(options, loggerFactory, cancellationToken);
        Console.Out.WriteLine(ListeningPrefix + server.Address);
        Console.Out.Flush();
        await ChildServerLifetime.WaitForStopAsync(parentPid, cancellationToken);
        return 0;
    }
}
