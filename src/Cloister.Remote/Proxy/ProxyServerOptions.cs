namespace Cloister.Remote;

/// <summary>Settings of a <see cref="ProxyServer"/>: which enclave to host and which host to serve.</summary>
public sealed class ProxyServerOptions
{
    /// <summary>The host's communicator address (<c>host:port</c>, <c>[IPv6]:port</c> or <c>unix:/path</c>). Required.</summary>
    public string ClientAddress { get; set; } = "";

    /// <summary>The enclave package to load. Required.</summary>
    public string PackagePath { get; set; } = "";

    /// <summary>The enclave's name. Required.</summary>
    public string EnclaveName { get; set; } = "";

    /// <summary>The secret shared with the host for this enclave. Required.</summary>
    public string SessionToken { get; set; } = "";

    /// <summary>
    /// Where the proxy's communicator listens. Default: a Unix socket in the temp folder when the host's address is a
    /// Unix socket, else port 0 on the loopback address of the host's address family.
    /// </summary>
    public string? ListenAddress { get; set; }

    /// <summary>When set, the package's measurement must equal it.</summary>
    public string? ExpectedMeasurement { get; set; }

    /// <summary>Debug mode: enclave errors carry stack traces to the host.</summary>
    public bool Debug { get; set; }

    /// <summary>When set, the proxy exits as soon as this process is gone (set by local provisioning).</summary>
    public int? ParentProcessId { get; set; }

    /// <summary>The security of the proxy's server and of its channel back to the host.</summary>
    public ChannelSecurity Security { get; set; } = ChannelSecurity.Insecure;

    /// <summary>Limits the package is checked against.</summary>
    public PackageLimits PackageLimits { get; set; } = new();

    /// <summary>
    /// When set, the proxy serves Prometheus metrics at <c>http://MetricsAddress:MetricsPort/metrics</c> and grpc.health.v1
    /// (over gRPC-Web) on the same port; 0 lets the system pick a port (the proxy logs it and reports it to the host).
    /// Default: <see langword="null"/>, no metrics endpoint. See docs/observability.md.
    /// </summary>
    public int? MetricsPort { get; set; }

    /// <summary>The address the metrics endpoint binds. Default <c>127.0.0.1</c>: loopback, nothing is exposed unless asked.</summary>
    public string MetricsAddress { get; set; } = MetricsEndpoint.DefaultAddress;

    /// <summary>
    /// With <see cref="MetricsPort"/>: a file the proxy writes its metrics URL to once it serves there (replaced whole, never
    /// seen half-written; deleted when the proxy stops), for a supervisor that needs the port the system picked. A provision
    /// server passes one to every proxy it starts and lists the endpoints for Prometheus. Default: <see langword="null"/>, none.
    /// </summary>
    public string? MetricsUrlFile { get; set; }

    internal void Validate()
    {
        Require(ClientAddress, nameof(ClientAddress), "--client-address");
        Require(PackagePath, nameof(PackagePath), "--package");
        Require(EnclaveName, nameof(EnclaveName), "--name");
        Require(SessionToken, nameof(SessionToken), $"the {ProxyCommand.SessionTokenVariable} environment variable");
        if (MetricsPort is < 0 or > 65535)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(ProxyServerOptions)}.{nameof(MetricsPort)} (--metrics-port) must be from 0 to 65535, not {MetricsPort}.");
        }

        if (MetricsUrlFile is not null && string.IsNullOrWhiteSpace(MetricsUrlFile))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(ProxyServerOptions)}.{nameof(MetricsUrlFile)} (--metrics-url-file) is blank: give a file path, or leave it out.");
        }

        if (MetricsUrlFile is not null && MetricsPort is null)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(ProxyServerOptions)}.{nameof(MetricsUrlFile)} (--metrics-url-file) needs a metrics endpoint to name: set {nameof(MetricsPort)} (--metrics-port) too.");
        }

        static void Require(string value, string name, string source)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(ProxyServerOptions)}.{name} is required (from {source}).");
            }
        }
    }
}
