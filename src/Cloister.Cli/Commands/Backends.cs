using Cloister.Remote;

namespace Cloister.Cli.Commands;

/// <summary>Builds the <see cref="EnclaveManagerOptions"/> for the backend a command line asked for.</summary>
internal sealed class Backends : IAsyncDisposable
{
    private readonly RemoteBackend? _remote;

    private Backends(RemoteBackend? remote) => _remote = remote;

    /// <summary>Adds the remote backend to <paramref name="options"/> when <paramref name="backend"/> is <c>remote</c>.</summary>
    /// <param name="options">The manager's options.</param>
    /// <param name="backend">The backend's name.</param>
    /// <param name="remoteProxy">The proxy program; default: this tool, which has the <c>proxy</c> command.</param>
    /// <param name="security">The remote channels' security.</param>
    public static Backends Configure(EnclaveManagerOptions options, string backend, FileInfo? remoteProxy, ChannelSecurity? security = null)
    {
        if (backend != RemoteBackend.BackendName)
        {
            return new Backends(null);
        }

        var remote = new RemoteBackend(new RemoteProxyConfig
        {
            Security = security ?? ChannelSecurity.Insecure,
            LocalProxy = new LocalProxyProvisionOptions { ProxyPath = remoteProxy?.FullName ?? Path.Combine(AppContext.BaseDirectory, "Cloister.Cli.dll") },
        });
        options.Backends.Add(remote);
        return new Backends(remote);
    }

    /// <summary>Stops the remote backend's server; dispose the manager first.</summary>
    public ValueTask DisposeAsync() => _remote?.DisposeAsync() ?? ValueTask.CompletedTask;
}
