using System.CommandLine;
using Cloister.Remote;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister status --address &lt;host:port&gt;</c>: a proxy's health (grpc.health.v1) and key figures (calls, failures,
/// latency, payload, CPU, memory, threads), read from its metrics endpoint (<c>cloister proxy --metrics-port</c>).
/// Exits 0 when the proxy is SERVING, 1 otherwise.
/// </summary>
internal sealed class StatusCommand : Command
{
    private readonly Option<string> _address = new("--address")
    {
        Description = "The proxy's metrics address: host:port (or http://host:port) of `cloister proxy --metrics-port`, which the host logs as \"serves metrics at …\".",
        Required = true,
        HelpName = "host:port",
    };

    private readonly Option<TimeSpan> _timeout = new("--timeout")
    {
        Description = "How long to wait for the proxy to answer.",
        DefaultValueFactory = _ => TimeSpan.FromSeconds(5),
        HelpName = "hh:mm:ss",
    };

    /// <summary>Creates the command.</summary>
    public StatusCommand()
        : base("status", "Show a proxy's health and key figures (calls, failures, latency, CPU, memory), read from its metrics endpoint.")
    {
        Options.Add(_address);
        Options.Add(_timeout);
        this.SetCloisterAction(ExecuteAsync);
    }

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        var status = await ProxyStatus.ReadAsync(parseResult.GetRequiredValue(_address), parseResult.GetValue(_timeout), cancellationToken);
        foreach (var line in status.Describe())
        {
            await context.Out.WriteLineAsync(line);
        }

        return status.IsServing ? ExitCodes.Success : ExitCodes.Failure;
    }
}
