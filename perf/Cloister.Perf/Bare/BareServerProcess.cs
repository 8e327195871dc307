namespace Cloister.Perf.Bare;

/// <summary>The floor's server process: this program started again as <c>serve-bare</c>, owned by the runner.</summary>
internal sealed class BareServerProcess : IAsyncDisposable
{
    private readonly ServerProcess _process;

    private BareServerProcess(ServerProcess process)
    {
        _process = process;
        Address = BareAddress.Parse(process.Ready);
    }

    public int ProcessId => _process.ProcessId;

    /// <summary>Where it listens, as bound.</summary>
    public BareAddress Address { get; }

    /// <param name="listen">Where it listens.</param>
    /// <param name="callback">Where its <c>Relay</c> calls back to; null when unused.</param>
    /// <param name="tls">The certificates to serve TLS with; null for plaintext.</param>
    /// <param name="children">Tracks the process.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<BareServerProcess> StartAsync(BareAddress listen, BareAddress? callback, RunCertificates? tls, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        List<string> arguments = ["--address", listen.ToString()];
        if (callback is not null)
        {
            arguments.AddRange(["--callback-address", callback.ToString()]);
        }

        if (tls is not null)
        {
            arguments.AddRange(["--tls-certificate", tls.ServerCertificate, "--tls-key", tls.ServerKey]);
        }

        return new BareServerProcess(await ServerProcess.StartSelfAsync(ServeBareCommand.Name, arguments, ServeBareCommand.ListeningPrefix, children, cancellationToken));
    }

    /// <summary>Closes its standard input, which tells it to stop; kills it if it does not within 10 s.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
