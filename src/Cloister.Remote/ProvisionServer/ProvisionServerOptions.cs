namespace Cloister.Remote;

/// <summary>Settings of a <see cref="ProvisionServer"/>. The defaults are safe: loopback only, and nothing runs for an
/// unauthenticated caller.</summary>
public sealed class ProvisionServerOptions
{
    /// <summary>Where the server listens. Default <c>127.0.0.1:0</c>; give a routable address (or <c>0.0.0.0:port</c>) for hosts on other machines.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1:0";

    /// <summary>
    /// The server's channel security, also given to the proxies it starts (their channels to the hosts). With
    /// <see cref="ChannelSecurityType.MutualTls"/>, callers are authenticated by their client certificate.
    /// </summary>
    public ChannelSecurity Security { get; set; } = ChannelSecurity.Insecure;

    /// <summary>When set, callers must send <c>authorization: Bearer &lt;token&gt;</c> with the token this file holds.</summary>
    public string? TokenFile { get; set; }

    /// <summary>
    /// Serve callers that are neither mutual-TLS-authenticated nor token-authenticated. Anyone who can reach the port
    /// can then run code on this machine: the server says so loudly at start.
    /// </summary>
    public bool AllowInsecure { get; set; }

    /// <summary>
    /// Let a caller on another machine name any host in its <c>client_address</c>. By default such a caller may only name
    /// itself (its own IP address, or <c>0.0.0.0</c> / <c>[::]</c>, which the server replaces by it): the proxies connect to
    /// that address, and a caller that could choose it would have them probe this machine's and its network's ports. Set
    /// it when hosts sit behind NAT or reach the server through a proxy and name an address the server does not see them
    /// come from. Callers on this machine (loopback, a Unix socket) may always name any address.
    /// </summary>
    public bool AllowAnyClientAddress { get; set; }

    /// <summary>Where uploaded packages are kept while their enclaves run. Default: a new folder in the temp folder.</summary>
    public string? WorkDirectory { get; set; }

    /// <summary>Most enclaves running at once. Default 16.</summary>
    public int MaxEnclaves { get; set; } = 16;

    /// <summary>Most enclaves one client (certificate subject, token or address) may run at once. Default 8.</summary>
    public int MaxEnclavesPerClient { get; set; } = 8;

    /// <summary>Limits every uploaded package must respect; <see cref="PackageLimits.MaxPackageBytes"/> caps the upload.</summary>
    public PackageLimits PackageLimits { get; set; } = new();

    /// <summary>When not empty, only packages with one of these measurements (lowercase hex) are run.</summary>
    public ISet<string> AllowedMeasurements { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The proxy program (default: the Cloister.Remote.dll this server runs from).</summary>
    public string? ProxyPath { get; set; }

    /// <summary>How long a released proxy gets to exit before it is killed. Default 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When set, the server serves Prometheus metrics at <c>http://MetricsAddress:MetricsPort/metrics</c> (enclaves running,
    /// uploads, refusals by reason, and its proxies' exits) and grpc.health.v1 (over gRPC-Web) on the same port; 0 lets the
    /// system pick a port (see <see cref="ProvisionServer.MetricsUrl"/>). Every proxy the server starts then serves its own
    /// metrics too, on a free port of <see cref="MetricsAddress"/>, and the server lists them for Prometheus at
    /// <see cref="ProvisionServer.ScrapeTargetsPath"/> on this port (and in <c>cloister ps</c>). Default:
    /// <see langword="null"/>, no metrics endpoint, here or on the proxies. See docs/observability.md.
    /// </summary>
    public int? MetricsPort { get; set; }

    /// <summary>
    /// The address the metrics endpoints bind, the server's and its proxies'. Default <c>127.0.0.1</c>: loopback, nothing is
    /// exposed unless asked. They are plaintext and unauthenticated, the proxies' list included.
    /// </summary>
    public string MetricsAddress { get; set; } = MetricsEndpoint.DefaultAddress;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Security, $"{nameof(ProvisionServerOptions)}.{nameof(Security)}");
        Security.Validate();
        if (Security.Type != ChannelSecurityType.MutualTls && TokenFile is null && !AllowInsecure)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                "A provision server runs code for whoever it lets in, so it needs a way to tell who that is: --security-type mtls (client certificates), --token-file (a bearer token), or, on a trusted network only, --allow-insecure.");
        }

        if (MaxEnclaves <= 0 || MaxEnclavesPerClient <= 0)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(MaxEnclaves)} and {nameof(MaxEnclavesPerClient)} must be positive.");
        }

        if (MetricsPort is < 0 or > 65535)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"{nameof(ProvisionServerOptions)}.{nameof(MetricsPort)} (--metrics-port) must be from 0 to 65535, not {MetricsPort}.");
        }

        PackageLimits.Validate();
        EndpointAddress.Parse(ListenAddress, "--listen-address");
    }
}
