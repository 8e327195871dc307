using System.Globalization;
using Cloister.Perf.Bare;
using Cloister.Perf.Measurement;
using Cloister.Perf.Remote;
using Grpc.Net.Client;
using Translator;

namespace Cloister.Perf.Ratio;

/// <summary>
/// Figures 10 and 11: a gRPC server inside an enclave (design §5), the Translator example, under 32 concurrent clients
/// calling <c>GetTranslation</c>, against the floor: the same <see cref="TranslatorService"/> (its source, compiled into
/// this program) in a plain Kestrel server (<c>serve-bare</c>: no logging, grpc-dotnet's defaults). Three child
/// processes: <c>serve-bare</c>, the example's driver with <c>--backend sim</c> (the server runs in the driver's process,
/// in the enclave's load context) and with <c>--backend remote</c> (it runs in the proxy's process). Each client is a
/// channel of its own (grpc-dotnet's defaults, plaintext TCP on loopback) making one call at a time; the three servers
/// take turns, 250 ms of load each. Calls/s and the p50 round trip under that load.
/// </summary>
internal sealed class TranslatorServing(RunSettings settings, TextWriter progress)
{
    private const string Label = "tcp";
    private const string DriverReady = "Server started on port ";
    private static readonly (string Word, string Translation)[] Words = [("asylo", "sanctuary"), ("istio", "sail"), ("kubernetes", "helmsman")];

    public Throughput Floor { get; } = Serving("plain Kestrel with TranslatorService (serve-bare)");

    public Throughput Sim { get; } = Serving("Translator driver, enclave on sim");

    public Throughput Remote { get; } = Serving("Translator driver, enclave on remote");

    public async Task MeasureAsync(string package, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        progress.WriteLine($"[{Label}] starting the Translator three ways: plain Kestrel, the driver on sim, the driver on remote");
        await using var floor = await BareServerProcess.StartAsync(BareAddress.Parse("127.0.0.1:0"), callback: null, tls: null, children, cancellationToken);
        await using var sim = await StartDriverAsync("sim", package, children, cancellationToken);
        await using var remote = await StartDriverAsync("remote", package, children, cancellationToken);

        using var floorClients = new Clients($"http://{floor.Address}", settings.Callers);
        using var simClients = new Clients($"http://127.0.0.1:{sim.Ready}", settings.Callers);
        using var remoteClients = new Clients($"http://127.0.0.1:{remote.Ready}", settings.Callers);
        (Clients Clients, Throughput Into)[] servers = [(floorClients, Floor), (simClients, Sim), (remoteClients, Remote)];
        foreach (var (clients, into) in servers)
        {
            await clients.CheckAsync(into, cancellationToken);
        }

        progress.WriteLine($"[{Label}] warming up");
        foreach (var (clients, _) in servers)
        {
            await Sampler.RunConcurrentAsync(clients.Caller, settings.Callers, settings.WarmUpTime, latency: null, cancellationToken);
        }

        progress.WriteLine($"[{Label}] GetTranslation, {settings.Callers} clients, the three servers in turns ({settings.ServingTime.TotalSeconds:0} s)");
        await Sampler.CompareConcurrentAsync(servers.Select(s => ((Func<int, Operation>)s.Clients.Caller, s.Into)).ToList(), settings.Callers, settings.ThroughputSlice, settings.ServingTime, cancellationToken);
    }

    public IEnumerable<Figure> Figures() =>
    [
        Figure.AtLeast($"10 Translator on sim, {settings.Callers} clients vs plain Kestrel ({Label})", "calls/s", Floor.PerSecond, Sim.PerSecond, 0.95),
        Figure.Informational($"10 Translator on sim, {settings.Callers} clients, p50 vs plain Kestrel ({Label})", "us", Floor.Latency!.P50, Sim.Latency!.P50),
        Figure.Informational($"11 Translator on remote, {settings.Callers} clients vs plain Kestrel ({Label})", "calls/s", Floor.PerSecond, Remote.PerSecond),
        Figure.Informational($"11 Translator on remote, {settings.Callers} clients, p50 vs plain Kestrel ({Label})", "us", Floor.Latency!.P50, Remote.Latency!.P50),
    ];

    public IEnumerable<string> Describe() =>
        new[] { Floor, Sim, Remote }.Where(t => t.PerSecond > 0).Select(t => $"[{Label}] {t}");

    // Room for every round trip of a full run (tens of thousands of calls a second on 2 cores, 8 s each).
    private static Throughput Serving(string name) =>
        new($"GetTranslation, {name}") { Latency = new LatencySamples("round trips", 1_000_000) };

    /// <summary>The example's driver, as its README starts it; it prints the port its enclave's server listens on.</summary>
    private Task<ServerProcess> StartDriverAsync(string backend, string package, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        // It does not watch this process: if the runner is killed outright, it stops at the end of its lifetime.
        var lifetime = (int)(settings.Limit + TimeSpan.FromMinutes(1)).TotalSeconds;
        return ServerProcess.StartProgramAsync(EnclaveFolders.TranslatorDriver,
            ["--enclave-path", package, "--backend", backend, "--port", "0", "--server-max-lifetime", lifetime.ToString(CultureInfo.InvariantCulture)],
            DriverReady, children, cancellationToken);
    }

    /// <summary>One channel per client to one server.</summary>
    private sealed class Clients : IDisposable
    {
        private readonly GrpcChannel[] _channels;
        private readonly Translator.Translator.TranslatorClient[] _clients;

        public Clients(string address, int count)
        {
            _channels = Enumerable.Range(0, count).Select(_ => GrpcChannel.ForAddress(address)).ToArray();
            _clients = _channels.Select(c => new Translator.Translator.TranslatorClient(c)).ToArray();
        }

        /// <summary>Client <paramref name="index"/> asks for one word, always the same one.</summary>
        public Operation Caller(int index)
        {
            var client = _clients[index % _clients.Length];
            var request = new GetTranslationRequest { InputWord = Words[index % Words.Length].Word };
            return async ct => await client.GetTranslationAsync(request, cancellationToken: ct);
        }

        /// <summary>Every client gets the right translation of every word, or the run stops.</summary>
        public async Task CheckAsync(Throughput server, CancellationToken cancellationToken)
        {
            foreach (var client in _clients)
            {
                foreach (var (word, translation) in Words)
                {
                    var reply = await client.GetTranslationAsync(new GetTranslationRequest { InputWord = word }, cancellationToken: cancellationToken);
                    if (reply.TranslatedWord != translation)
                    {
                        throw new InvalidOperationException($"{server.Name} translated '{word}' as '{reply.TranslatedWord}', not '{translation}'; the figures would be meaningless.");
                    }
                }
            }
        }

        public void Dispose()
        {
            foreach (var channel in _channels)
            {
                channel.Dispose();
            }
        }
    }
}
