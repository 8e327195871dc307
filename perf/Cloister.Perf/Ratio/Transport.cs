namespace Cloister.Perf.Ratio;

/// <summary>The loopback transports both sides are measured over.</summary>
internal enum Transport
{
    /// <summary>A Unix domain socket: Cloister's default (<see cref="Cloister.Remote.RemoteProxyConfig.HostAddress"/> null).</summary>
    Unix,

    /// <summary>TCP on 127.0.0.1 (<c>HostAddress = "127.0.0.1:0"</c>).</summary>
    Tcp,
}
