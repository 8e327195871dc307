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

    public static async Task<BareServerProcess> StartAsync(BareAddress listen, BareAddress? callback, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        List<string> arguments = ["--address", listen.ToString()];
        if (callback is not null)
        {
            arguments.AddRange(["--callback-address", callback.ToString()]);
        }

        return new BareServerProcess(await ServerProcess.StartSelfAsync(ServeBareCommand.Name, arguments, ServeBareCommand.ListeningPrefix, children, cancellationToken));
    }

    /// <summary>Closes its standard input, which tells it to stop; kills it if it does not within 10 s.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
