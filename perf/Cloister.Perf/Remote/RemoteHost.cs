using System.Diagnostics;
using Cloister.Benchmarks;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Remote;

/// <summary>
/// Cloister's side of a comparison: an <see cref="EnclaveManager"/> with a <see cref="RemoteBackend"/> as a user would
/// set it up (its defaults, local proxies), except that every proxy is tracked so the runner can always stop it.
/// </summary>
internal sealed class RemoteHost : IAsyncDisposable
{
    private readonly RemoteBackend _backend;

    /// <param name="hostAddress">The backend's <see cref="RemoteProxyConfig.HostAddress"/>: null for its default (a Unix socket) or <c>127.0.0.1:0</c>.</param>
    /// <param name="children">Tracks every proxy started.</param>
    /// <param name="loggerFactory">The host's logging.</param>
    /// <param name="proxyMetricsPort">The proxies' <see cref="RemoteProxyConfig.ProxyMetricsPort"/> (figure 6); null for none.</param>
    /// <param name="security">The channels' <see cref="RemoteProxyConfig.Security"/> (figure 9); null for the default, plaintext.</param>
    public RemoteHost(string? hostAddress, ChildProcessGuard children, ILoggerFactory loggerFactory, int? proxyMetricsPort = null, ChannelSecurity? security = null)
    {
        var config = new RemoteProxyConfig { HostAddress = hostAddress, ProxyMetricsPort = proxyMetricsPort, Security = security ?? ChannelSecurity.Insecure };
        config.Provision = _ => LastProvision = children.Track(new LocalProxyProvision(config.LocalProxy, loggerFactory));
        (_backend, Manager) = Create(config, loggerFactory);
    }

    /// <summary>A host whose proxies are provisioned as <paramref name="config"/> says (figures 7 and 8: through a provision server).</summary>
    public RemoteHost(RemoteProxyConfig config, ILoggerFactory loggerFactory) => (_backend, Manager) = Create(config, loggerFactory);

    public EnclaveManager Manager { get; }

    /// <summary>The local provision of the proxy started last (its process id is the enclave's process).</summary>
    public LocalProxyProvision? LastProvision { get; private set; }

    /// <summary>Loads the package on the remote backend (provision + connect + Initialize).</summary>
    public ValueTask<EnclaveClient> LoadAsync(string name, string packagePath, CancellationToken cancellationToken) =>
        Manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = name, PackagePath = packagePath, Backend = RemoteBackend.BackendName }, cancellationToken);

    /// <summary>
    /// Loads the package <paramref name="loads"/> + 1 times and destroys it after each (untimed), reporting each load's
    /// time in <see cref="Stopwatch"/> ticks to <paramref name="timed"/>. The first load is not timed: it runs cold code in
    /// this process and starts the backend's own communicator server.
    /// </summary>
    public async Task TimeLoadsAsync(string packagePath, int loads, string what, TextWriter progress, Action<long> timed, CancellationToken cancellationToken)
    {
        for (var i = 0; i <= loads; i++)
        {
            progress.WriteLine($"{what} {i}/{loads}{(i == 0 ? " (untimed)" : "")}");
            var start = Stopwatch.GetTimestamp();
            var client = await LoadAsync($"load-{i}", packagePath, cancellationToken);
            var elapsed = Stopwatch.GetTimestamp() - start;
            if (i > 0)
            {
                timed(elapsed);
            }

            await Manager.DestroyEnclaveAsync(client, cancellationToken: cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Manager.DisposeAsync();
        await _backend.DisposeAsync();
    }

    private static (RemoteBackend, EnclaveManager) Create(RemoteProxyConfig config, ILoggerFactory loggerFactory)
    {
        var backend = new RemoteBackend(config);
        var options = new EnclaveManagerOptions { LoggerFactory = loggerFactory };
        options.Backends.Add(backend);
        var manager = new EnclaveManager(options);

        // What bench.hostcall calls: an echo, so the figure is the cost of the nested round trip alone.
        manager.HostCalls.Register(BenchSelectors.HostEcho, static (_, payload, _) => ValueTask.FromResult(payload));
        return (backend, manager);
    }
}
