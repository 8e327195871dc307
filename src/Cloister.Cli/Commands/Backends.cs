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
    /// <param name="remoteProxy">The proxy program; default: the precompiled proxy that ships with Cloister.Remote, else this tool (it has the <c>proxy</c> command).</param>
    /// <param name="security">The remote channels' security.</param>
    /// <param name="provisionServer">When set, the provision server that runs the proxies, with its bearer token file.</param>
    public static Backends Configure(EnclaveManagerOptions options, string backend, FileInfo? remoteProxy, ChannelSecurity? security = null, (string Address, string? TokenFile)? provisionServer = null)
    {
        if (backend != RemoteBackend.BackendName)
        {
            return new Backends(null);
        }

        var remote = new RemoteBackend(new RemoteProxyConfig
        {
            Security = security ?? ChannelSecurity.Insecure,
            HostAddress = provisionServer is null ? null : HostAddressFor(provisionServer.Value.Address),
            ProvisionServer = provisionServer is { } server
                ? new RemoteProvisionOptions
                {
                    ServerAddress = server.Address,
                    BearerToken = server.TokenFile is null ? null : File.ReadAllText(server.TokenFile).Trim(),
                    Progress = new UploadProgress(),
                }
                : null,
            // Default: the precompiled proxy that ships with Cloister.Remote; this tool's own `cloister proxy` without it.
            LocalProxy = new LocalProxyProvisionOptions { ProxyPath = remoteProxy?.FullName ?? (LocalProxyProvision.ShippedProxyPath() is null ? Path.Combine(AppContext.BaseDirectory, "Cloister.Cli.dll") : null) },
        });
        options.Backends.Add(remote);
        return new Backends(remote);
    }

    /// <summary>
    /// Where the host listens for proxies a provision server starts: loopback when the server is on this machine, every
    /// interface otherwise (the server tells its proxies the address the host's call came from).
    /// </summary>
    private static string HostAddressFor(string provisionServer)
    {
        var host = provisionServer.StartsWith('[') ? provisionServer[1..provisionServer.IndexOf(']', StringComparison.Ordinal)] : provisionServer.Split(':')[0];
        var loopback = host == "localhost" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
        return loopback ? (host.Contains(':', StringComparison.Ordinal) ? "[::1]:0" : "127.0.0.1:0") : "0.0.0.0:0";
    }

    /// <summary>The upload's progress as a bar on standard error.</summary>
    private sealed class UploadProgress : IProgress<(long Sent, long Total)>
    {
        public void Report((long Sent, long Total) value)
        {
            const int width = 30;
            var filled = value.Total == 0 ? width : (int)(width * value.Sent / value.Total);
            Console.Error.Write($"\rUploading [{new string('#', filled)}{new string('.', width - filled)}] {value.Sent / 1024} / {value.Total / 1024} KiB");
            if (value.Sent == value.Total)
            {
                Console.Error.WriteLine();
            }
        }
    }

    /// <summary>Stops the remote backend's server; dispose the manager first.</summary>
    public ValueTask DisposeAsync() => _remote?.DisposeAsync() ?? ValueTask.CompletedTask;
}
