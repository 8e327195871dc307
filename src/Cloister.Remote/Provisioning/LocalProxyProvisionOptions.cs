namespace Cloister.Remote;

/// <summary>Settings of <see cref="LocalProxyProvision"/>.</summary>
public sealed class LocalProxyProvisionOptions
{
    /// <summary>
    /// The proxy program: the <c>cloister</c> tool (an executable or <c>cloister.dll</c>) or <c>Cloister.Remote.dll</c>.
    /// Default: the <c>CLOISTER_REMOTE_PROXY</c> environment variable, else the <c>Cloister.Remote.dll</c> that ships
    /// with this library (it is copied into every app that references it).
    /// </summary>
    public string? ProxyPath { get; set; }

    /// <summary>Extra arguments for the proxy (e.g. <c>--metrics-port</c>).</summary>
    public IList<string> ExtraArguments { get; } = [];
}
