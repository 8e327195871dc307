namespace Cloister.Remote;

/// <summary>Settings of <see cref="RemoteProxyProvision"/>: which provision server, and how to authenticate to it.</summary>
public sealed class RemoteProvisionOptions
{
    /// <summary>The provision server's address (<c>host:port</c>, <c>[IPv6]:port</c>). Required.</summary>
    public string ServerAddress { get; set; } = "";

    /// <summary>The channel's security; with mutual TLS, the client certificate authenticates this host. Default: the backend's.</summary>
    public ChannelSecurity? Security { get; set; }

    /// <summary>A bearer token, when the server authenticates by token.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Reports the upload's progress (bytes sent, total).</summary>
    public IProgress<(long Sent, long Total)>? Progress { get; set; }

    /// <summary>How many times a failed upload is retried from the start (the server discards partial uploads). Default 2.</summary>
    public int UploadRetries { get; set; } = 2;
}
