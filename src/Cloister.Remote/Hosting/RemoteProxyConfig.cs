namespace Cloister.Remote;

/// <summary>Settings of the <see cref="RemoteBackend"/>: how proxies are provisioned, where the host listens, timeouts.</summary>
public sealed class RemoteProxyConfig
{
    /// <summary>
    /// Creates the provision for each enclave. Default: a <see cref="LocalProxyProvision"/> (a child process on this
    /// machine) with <see cref="LocalProxy"/>'s settings.
    /// </summary>
    public Func<ProxyProvisionRequest, IRemoteProvision>? Provision { get; set; }

    /// <summary>
    /// When set, proxies are provisioned through this provision server (<see cref="RemoteProxyProvision"/>) instead of on
    /// this machine. A load config's <c>remote_load_config.provision_server</c> overrides the address.
    /// </summary>
    public RemoteProvisionOptions? ProvisionServer { get; set; }

    /// <summary>Settings of the default local provisioning.</summary>
    public LocalProxyProvisionOptions LocalProxy { get; set; } = new();

    /// <summary>
    /// Where the host's communicator listens for its proxies. Default: a Unix domain socket in the temp folder, the
    /// fastest transport between two processes of one machine (no TCP/IP stack, no loopback device). Give
    /// <c>127.0.0.1:0</c>, <c>[::1]:0</c> or a routable address for proxies on other machines.
    /// </summary>
    public string? HostAddress { get; set; }

    /// <summary>
    /// The security of the host's channels to its proxies, both ways (and, with a provision server, to it). Default:
    /// plaintext, which is only safe on Unix sockets or loopback.
    /// </summary>
    public ChannelSecurity Security { get; set; } = ChannelSecurity.Insecure;

    /// <summary>How long a load waits for the proxy to start, verify the package and report in. Default 30 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a destroyed enclave's proxy gets to exit before it is killed. Default 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>When a call fails because the proxy is gone, how long to wait for its exit status to name it. Default 1 s.</summary>
    public TimeSpan ExitStatusWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// When set, every proxy serves Prometheus metrics (<c>/metrics</c>) and grpc.health.v1 on this port of
    /// <see cref="ProxyMetricsAddress"/> (<c>cloister proxy --metrics-port</c>). Use 0 when a machine runs several proxies:
    /// each picks a free port, logs it, and reports it to the host (logged as "serves metrics at …"). Default: none. The
    /// host's own measurements go wherever the app's OpenTelemetry sends them (<c>AddCloisterInstrumentation()</c>).
    /// </summary>
    public int? ProxyMetricsPort { get; set; }

    /// <summary>
    /// The address the proxies' metrics endpoints bind (<c>--metrics-address</c>). Default <c>127.0.0.1</c>; the endpoint is
    /// plaintext and unauthenticated, so bind another address only behind a firewall.
    /// </summary>
    public string ProxyMetricsAddress { get; set; } = MetricsEndpoint.DefaultAddress;

    internal void Validate()
    {
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), $"{nameof(RemoteProxyConfig)}.{nameof(ConnectTimeout)} must be positive.");
        }

        if (ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), $"{nameof(RemoteProxyConfig)}.{nameof(ShutdownTimeout)} must not be negative.");
        }

        ArgumentNullException.ThrowIfNull(LocalProxy, $"{nameof(RemoteProxyConfig)}.{nameof(LocalProxy)}");
        ArgumentNullException.ThrowIfNull(Security, $"{nameof(RemoteProxyConfig)}.{nameof(Security)}");
        Security.Validate();
        if (HostAddress is not null)
        {
            EndpointAddress.Parse(HostAddress, $"{nameof(RemoteProxyConfig)}.{nameof(HostAddress)}");
        }

        if (ProxyMetricsPort is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(ProxyMetricsPort), $"{nameof(RemoteProxyConfig)}.{nameof(ProxyMetricsPort)} must be from 0 to 65535 (0 = a free port per proxy).");
        }

        if (string.IsNullOrWhiteSpace(ProxyMetricsAddress))
        {
            throw new ArgumentException($"{nameof(RemoteProxyConfig)}.{nameof(ProxyMetricsAddress)} must be an IP address or localhost, e.g. 127.0.0.1.", nameof(ProxyMetricsAddress));
        }
    }
}
