using System.CommandLine;
using Cloister.Remote;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister status --address &lt;host:port&gt;</c>: the health (grpc.health.v1) and key figures of a proxy (calls,
/// failures, latency, payload, CPU, memory, threads) or a provision server (enclaves running, uploads, rejections, proxy
/// exits), read from its metrics endpoint (<c>--metrics-port</c>). Exits 0 when it is SERVING, 1 otherwise.
/// </summary>
internal sealed class StatusCommand : Command
{
    private readonly Option<string> _address = new("--address")
    {
        Description = "The metrics address of a proxy or provision server: host:port (or http://host:port) of their --metrics-port, which they log as \"serves metrics at …\".",
        Required = true,
        HelpName = "host:port",
    };

    private readonly Option<TimeSpan> _timeout = new("--timeout")
    {
        Description = "How long to wait for an answer.",
        DefaultValueFactory = _ => TimeSpan.FromSeconds(5),
        HelpName = "hh:mm:ss",
    };

    /// <summary>Creates the command.</summary>
    public StatusCommand()
        : base("status", "Show the health and key figures of a proxy (calls, failures, latency, CPU, memory) or a provision server (enclaves, uploads, rejections), read from its metrics endpoint.")
    {
        Options.Add(_address);
        Options.Add(_timeout);
        this.SetCloisterAction(ExecuteAsync);
    }

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        var status = await ServerStatus.ReadAsync(parseResult.GetRequiredValue(_address), parseResult.GetValue(_timeout), cancellationToken);
        foreach (var line in status.Describe())
        {
            await context.Out.WriteLineAsync(line);
        }

        return status.IsServing ? ExitCodes.Success : ExitCodes.Failure;
    }
}
