namespace Cloister.Remote;

/// <summary>Settings of <see cref="LocalProxyProvision"/>.</summary>
public sealed class LocalProxyProvisionOptions
{
    /// <summary>
    /// The proxy program: the <c>cloister</c> tool (an executable or <c>cloister.dll</c>) or <c>Cloister.Remote.dll</c>.
    /// Default: the <c>CLOISTER_REMOTE_PROXY</c> environment variable, else the proxy that ships with this library and is
    /// copied into every app that references it: <c>cloister-proxy/Cloister.Remote.dll</c>, precompiled (ReadyToRun) for
    /// the platform that built the app, or <c>Cloister.Remote.dll</c> next to the app when that folder is absent.
    /// </summary>
    public string? ProxyPath { get; set; }

    /// <summary>Extra arguments for the proxy (e.g. <c>--metrics-port</c>).</summary>
    public IList<string> ExtraArguments { get; } = [];
}
