using System.CommandLine;

namespace Cloister.Remote;

/// <summary>
/// <c>--metrics-port</c> and <c>--metrics-address</c>, the same on every Cloister server command (<c>cloister proxy</c>, and
/// <c>cloister provision-server</c> when it serves metrics): where the <see cref="MetricsEndpoint"/> listens.
/// </summary>
internal sealed class MetricsCommandLine
{
    public Option<int?> Port { get; } = new("--metrics-port")
    {
        Description = "Serve Prometheus metrics at http://<metrics-address>:<port>/metrics, and grpc.health.v1 (gRPC-Web) on the same port; 0 picks a free port. Default: no metrics endpoint.",
        HelpName = "port",
    };

    public Option<string> Address { get; } = new("--metrics-address")
    {
        Description = "The address the metrics endpoint binds (an IP address or localhost). Plaintext and unauthenticated: keep it on loopback unless a firewall guards it.",
        DefaultValueFactory = _ => MetricsEndpoint.DefaultAddress,
        HelpName = "ip",
    };

    public MetricsCommandLine()
    {
        Port.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 0 or > 65535)
            {
                result.AddError("--metrics-port must be from 0 to 65535.");
            }
        });
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Port);
        command.Options.Add(Address);
    }
}
