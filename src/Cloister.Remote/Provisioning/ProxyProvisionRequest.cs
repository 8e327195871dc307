namespace Cloister.Remote;

/// <summary>What a provision needs to start one proxy.</summary>
public sealed record ProxyProvisionRequest
{
    /// <summary>The enclave's name.</summary>
    public required string EnclaveName { get; init; }

    /// <summary>The package to load, on the host.</summary>
    public required string PackagePath { get; init; }

    /// <summary>Where the host's communicator listens; the proxy connects back to it.</summary>
    public required string ClientAddress { get; init; }

    /// <summary>The secret the proxy must present on every call to the host, and the host on every call to it.</summary>
    public required string SessionToken { get; init; }

    /// <summary>When set, the measurement the package must have.</summary>
    public string? ExpectedMeasurement { get; init; }

    /// <summary>Debug mode: enclave errors carry stack traces.</summary>
    public bool Debug { get; init; }

    /// <summary>The security of the proxy's channels (its server, and its connection back to the host).</summary>
    public ChannelSecurity Security { get; init; } = ChannelSecurity.Insecure;

    /// <summary>Where the proxy listens; <see langword="null"/> lets it choose next to <see cref="ClientAddress"/>.</summary>
    public string? ListenAddress { get; init; }

    /// <summary>
    /// When set, the proxy serves Prometheus metrics and health on this port (<c>--metrics-port</c>; 0 = a free port, which it
    /// reports back). <see langword="null"/>: no metrics endpoint.
    /// </summary>
    public int? MetricsPort { get; init; }

    /// <summary>The address the proxy's metrics endpoint binds (<c>--metrics-address</c>); <see langword="null"/> for loopback.</summary>
    public string? MetricsAddress { get; init; }

    /// <summary>The loading enclave's measurements, for the provisioning stages a provision times itself (the upload).</summary>
    internal CallTelemetry? Telemetry { get; init; }
}
