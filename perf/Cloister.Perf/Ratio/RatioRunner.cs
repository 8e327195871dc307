using Cloister.Benchmarks;
using Cloister.Perf.Bare;
using Cloister.Perf.Measurement;
using Cloister.Perf.Remote;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Ratio;

/// <summary>
/// Measures the floor (bare grpc-dotnet: this program as a client, <c>serve-bare</c> as a child process) and Cloister's
/// remote backend (an <see cref="EnclaveManager"/> here, the enclave in a proxy process) over each transport, in
/// alternating slices, and turns the result into <see cref="Figure"/>s (figures 1–5 here, the others in a class each:
/// <see cref="TelemetryOverhead"/>, <see cref="RemoteProvisioning"/>, <see cref="SecureChannels"/>,
/// <see cref="TranslatorServing"/>).
/// </summary>
internal sealed class RatioRunner(RunSettings settings, IReadOnlySet<int> figures, ILoggerFactory loggerFactory, TextWriter progress)
{
    private const int SmallBytes = 64;
    private static readonly int[] BulkSizes = [4 << 20, 64 << 20];

    /// <summary>Figure 5's enclave: the repository's example when it was built, else the bench enclave.</summary>
    private static readonly string LoadEnclave = EnclaveFolders.Exists(EnclaveFolders.Hello) ? EnclaveFolders.Hello : EnclaveFolders.Bench;

    /// <summary>Per-operation percentiles, for the details under the table.</summary>
    public List<string> Details { get; } = [];

    /// <summary>Set when the run's time limit cut it short.</summary>
    public bool StoppedAtLimit { get; private set; }

    /// <summary>Figure 6, measured over the first transport only.</summary>
    private readonly TelemetryOverhead _telemetry = new(settings, loggerFactory, progress);

    /// <summary>Figures 7 and 8, over TLS on TCP.</summary>
    private readonly RemoteProvisioning _provisioning = new(settings, figures, loggerFactory, progress);

    /// <summary>Figure 9, over TCP.</summary>
    private readonly SecureChannels _secure = new(settings, loggerFactory, progress);

    /// <summary>Figures 10 and 11, over TCP.</summary>
    private readonly TranslatorServing _translator = new(settings, progress);

    public async Task<IReadOnlyList<Figure>> RunAsync(IReadOnlyList<Transport> transports, CancellationToken cancellationToken)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(settings.Limit);
        using var children = new ChildProcessGuard();
        var work = Directory.CreateTempSubdirectory("cloister-perf-").FullName;
        var results = new List<TransportResults>();
        try
        {
            var benchPackage = await EnclaveFolders.PackAsync(EnclaveFolders.Bench, work, budget.Token);
            var loadPackage = LoadEnclave == EnclaveFolders.Bench ? benchPackage : await EnclaveFolders.PackAsync(LoadEnclave, work, budget.Token);
            try
            {
                foreach (var transport in transports)
                {
                    var result = new TransportResults(transport, settings);
                    results.Add(result);
                    if (figures.Overlaps([1, 2, 3, 4]))
                    {
                        await MeasureCallsAsync(result, benchPackage, work, children, budget.Token);
                    }

                    if (figures.Contains(5))
                    {
                        await MeasureLoadsAsync(result, loadPackage, children, budget.Token);
                    }

                    if (figures.Contains(6) && transport == transports[0])
                    {
                        await _telemetry.MeasureAsync(transport, benchPackage, children, budget.Token);
                    }
                }

                // The TLS figures and the Translator's: TCP only, whatever --transport says (TLS runs over TCP here, and
                // the Translator's servers listen on TCP).
                if (figures.Overlaps([7, 8, 9]))
                {
                    var certificates = RunCertificates.Create(Path.Combine(work, "certificates"));
                    if (figures.Overlaps([7, 8]))
                    {
                        await _provisioning.MeasureAsync(loadPackage, LoadEnclave, work, certificates, children, budget.Token);
                    }

                    if (figures.Contains(9))
                    {
                        await _secure.MeasureAsync(benchPackage, certificates, children, budget.Token);
                    }
                }

                if (figures.Overlaps([10, 11]))
                {
                    var translatorPackage = await EnclaveFolders.PackAsync(EnclaveFolders.Translator, work, budget.Token);
                    await _translator.MeasureAsync(translatorPackage, children, budget.Token);
                }
            }
            catch (Exception ex) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested && IsCancellation(ex))
            {
                StoppedAtLimit = true;
                progress.WriteLine($"The run reached its limit of {settings.Limit.TotalSeconds:0} s; figures not measured yet are n/a.");
            }
        }
        finally
        {
            children.KillAll();
            Directory.Delete(work, recursive: true);
        }

        cancellationToken.ThrowIfCancellationRequested();
        foreach (var result in results)
        {
            Details.AddRange(result.Describe());
        }

        Details.AddRange(_telemetry.Describe());
        Details.AddRange(_provisioning.Describe());
        Details.AddRange(_secure.Describe());
        Details.AddRange(_translator.Describe());

        return Figures(results);
    }

    private async Task MeasureCallsAsync(TransportResults r, string package, string work, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        progress.WriteLine($"[{r.Label}] starting the bare server and loading the bench enclave");
        BareAddress Listen(string socketName) => BareAddress.Parse(r.Transport == Transport.Unix ? $"unix:{Path.Combine(work, socketName)}" : "127.0.0.1:0");

        // The bare nested call's second leg comes back to a server in this process, as a Cloister host call does.
        await using var callback = await BareServer.StartAsync(Listen("bare-callback.sock"), callback: null, certificate: null, cancellationToken);
        await using var server = await BareServerProcess.StartAsync(Listen("bare.sock"), callback.Address, tls: null, children, cancellationToken);
        await using var floor = new BareFloor(server.Address);
        await using var host = new RemoteHost(HostAddress(r.Transport), children, loggerFactory);
        var enclave = await host.LoadAsync("bench", package, cancellationToken);
        var floorCpu = CpuMeter.ForProcess(server.ProcessId);
        var proxyCpu = host.LastProvision?.ProcessId is { } proxy ? CpuMeter.ForProcess(proxy) : null;

        var small = RandomBytes(SmallBytes);
        Operation unary = async ct => await floor.EchoAsync(small, ct);
        Operation entry = async ct => await enclave.InvokeAsync(BenchSelectors.Echo, small, ct);

        // Fail here, not with a misleading figure, if anything does not echo.
        Expect(await floor.EchoAsync(small, cancellationToken), small, "bare Echo");
        Expect(await floor.PingPongAsync(small, cancellationToken), small, "bare PingPong");
        Expect(await floor.RelayAsync(small, cancellationToken), small, "bare Relay");
        Expect(await floor.RelayPingPongAsync(small, cancellationToken), small, "bare RelayPingPong");
        Expect(await enclave.InvokeAsync(BenchSelectors.Echo, small, cancellationToken), small, BenchSelectors.Echo);
        Expect(await enclave.InvokeAsync(BenchSelectors.HostCall, small, cancellationToken), small, BenchSelectors.HostCall);

        // Figures 1 and 2: one caller, one call at a time; CPU time per call on both sides, to see where it goes.
        if (figures.Overlaps([1, 2]))
        {
            r.Unary.Server = r.PingPong.Server = r.Relay.Server = r.RelayPingPong.Server = floorCpu;
            r.Entry.Server = r.HostCall.Server = proxyCpu;
            (Operation, LatencySamples)[] latency =
            [
                (unary, r.Unary),
                (async ct => await floor.PingPongAsync(small, ct), r.PingPong),
                (async ct => await floor.RelayAsync(small, ct), r.Relay),
                (async ct => await floor.RelayPingPongAsync(small, ct), r.RelayPingPong),
                (entry, r.Entry),
                (async ct => await enclave.InvokeAsync(BenchSelectors.HostCall, small, ct), r.HostCall),
            ];
            progress.WriteLine($"[{r.Label}] warming up");
            foreach (var (operation, _) in latency)
            {
                await Sampler.WarmUpAsync(operation, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
            }

            progress.WriteLine($"[{r.Label}] 64 B round trips, one caller ({settings.LatencyTime.TotalSeconds:0} s)");
            await Sampler.RecordInterleavedAsync(latency, settings.LatencyBlock, settings.LatencyTime, cancellationToken);
        }

        // Figure 3: many callers at once.
        if (figures.Contains(3))
        {
            progress.WriteLine($"[{r.Label}] 64 B calls, {settings.Callers} callers ({settings.ThroughputTime.TotalSeconds:0} s)");
            await Sampler.RunConcurrentAsync(unary, settings.Callers, settings.ThroughputSlice, cancellationToken);
            await Sampler.RunConcurrentAsync(entry, settings.Callers, settings.ThroughputSlice, cancellationToken);
            await Sampler.CompareConcurrentAsync([(unary, r.FloorThroughput), (entry, r.Throughput)], settings.Callers, settings.ThroughputSlice, settings.ThroughputTime, cancellationToken);
        }

        // Figure 4: large payloads, there and back; the first call of each is the check and the warm-up.
        foreach (var size in figures.Contains(4) ? BulkSizes : [])
        {
            progress.WriteLine($"[{r.Label}] {size >> 20} MiB echo ({settings.BulkTime.TotalSeconds:0} s)");
            var payload = RandomBytes(size);
            Expect(await floor.EchoChunksAsync(payload, cancellationToken), payload, $"bare EchoChunks {size >> 20} MiB");
            Expect(await enclave.InvokeAsync(BenchSelectors.Echo, payload, cancellationToken), payload, $"{BenchSelectors.Echo} {size >> 20} MiB");
            var (floorSamples, samples) = r.Bulk[size];
            floorSamples.Server = floorCpu;
            samples.Server = proxyCpu;
            await Sampler.RecordInterleavedAsync(
                [(async ct => await floor.EchoChunksAsync(payload, ct), floorSamples), (async ct => await enclave.InvokeAsync(BenchSelectors.Echo, payload, ct), samples)],
                blockCalls: 1, settings.BulkTime, cancellationToken);
        }
    }

    private async Task MeasureLoadsAsync(TransportResults r, string package, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        await using var host = new RemoteHost(HostAddress(r.Transport), children, loggerFactory);
        await host.TimeLoadsAsync(package, settings.Loads, $"[{r.Label}] load {LoadEnclave}", progress, r.Load.Add, cancellationToken);
    }

    private List<Figure> Figures(List<TransportResults> results)
    {
        var list = new List<Figure>();
        foreach (var r in results)
        {
            list.Add(Figure.AtMost($"1 entry call 64 B p50 vs bare unary ({r.Label})", "us", r.Unary.P50, r.Entry.P50, 1.10));
            list.Add(Figure.AtMost($"1 entry call 64 B p50 vs bare ping-pong ({r.Label})", "us", r.PingPong.P50, r.Entry.P50, 1.10));
        }

        foreach (var r in results)
        {
            list.Add(Figure.AtMost($"2 nested host call 64 B p50 vs 2x bare unary ({r.Label})", "us", 2 * r.Unary.P50, r.HostCall.P50, 1.10));
            // Two round trips (host -> enclave -> host and back), so the ping-pong floor counts twice.
            list.Add(Figure.AtMost($"2 nested host call 64 B p50 vs 2x bare ping-pong ({r.Label})", "us", 2 * r.PingPong.P50, r.HostCall.P50, 1.10));
            // The same four messages on streams held open, but over two connections as Cloister's two sessions are.
            list.Add(Figure.AtMost($"2 nested host call 64 B p50 vs bare relayed ping-pong ({r.Label})", "us", r.RelayPingPong.P50, r.HostCall.P50, 1.10));
        }

        foreach (var r in results)
        {
            list.Add(Figure.AtLeast($"3 {settings.Callers} callers vs bare unary ({r.Label})", "calls/s", r.FloorThroughput.PerSecond, r.Throughput.PerSecond, 0.90));
        }

        foreach (var r in results)
        {
            foreach (var (size, (floorSamples, samples)) in r.Bulk)
            {
                list.Add(Figure.AtLeast($"4 echo {size >> 20} MiB vs bare chunked stream ({r.Label})", "MiB/s", floorSamples.MiBPerSecond(size), samples.MiBPerSecond(size), 0.90));
            }
        }

        foreach (var r in results)
        {
            list.Add(Figure.Under($"5 load {LoadEnclave} p50 ({r.Label})", "ms", r.Load.P50 / 1000, 500));
        }

        list.AddRange(_telemetry.Figures());
        list.AddRange(_provisioning.Figures());
        list.AddRange(_secure.Figures());
        list.AddRange(_translator.Figures());

        return list.Where(f => figures.Contains(f.Number)).ToList();
    }

    private static string? HostAddress(Transport transport) => transport == Transport.Unix ? null : "127.0.0.1:0";

    private static byte[] RandomBytes(int length)
    {
        var bytes = GC.AllocateUninitializedArray<byte>(length);
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    private static void Expect(ReadOnlyMemory<byte> actual, ReadOnlyMemory<byte> expected, string what)
    {
        if (!actual.Span.SequenceEqual(expected.Span))
        {
            throw new InvalidOperationException($"{what} did not echo its {expected.Length}-byte payload (got {actual.Length} bytes); the figures would be meaningless.");
        }
    }

    private static bool IsCancellation(Exception ex) => ex is OperationCanceledException
        || ex is RpcException { StatusCode: StatusCode.Cancelled or StatusCode.DeadlineExceeded }
        || ex is EnclaveException { StatusCode: EnclaveStatusCode.Cancelled or EnclaveStatusCode.DeadlineExceeded };

    /// <summary>Everything measured over one transport.</summary>
    private sealed class TransportResults
    {
        public TransportResults(Transport transport, RunSettings settings)
        {
            Transport = transport;
            Label = transport == Transport.Unix ? "unix" : "tcp";
            var latency = settings.LatencyMaxCalls;
            Unary = new LatencySamples("bare unary Echo 64 B", latency);
            PingPong = new LatencySamples("bare duplex ping-pong 64 B", latency);
            Relay = new LatencySamples("bare nested call (Relay: unary whose handler makes a unary call back) 64 B", latency);
            RelayPingPong = new LatencySamples("bare nested ping-pong (RelayPingPong: each message relayed over a stream back) 64 B", latency);
            Entry = new LatencySamples($"Cloister {BenchSelectors.Echo} 64 B", latency);
            HostCall = new LatencySamples($"Cloister {BenchSelectors.HostCall} 64 B", latency);
            foreach (var size in BulkSizes)
            {
                var bulk = settings.BulkMaxCalls;
                Bulk[size] = (new LatencySamples($"bare EchoChunks {size >> 20} MiB", bulk), new LatencySamples($"Cloister {BenchSelectors.Echo} {size >> 20} MiB", bulk));
            }

            Load = new LatencySamples($"Cloister load {LoadEnclave}", settings.Loads);
        }

        public Transport Transport { get; }

        public string Label { get; }

        public LatencySamples Unary { get; }

        public LatencySamples PingPong { get; }

        public LatencySamples Relay { get; }

        public LatencySamples RelayPingPong { get; }

        public LatencySamples Entry { get; }

        public LatencySamples HostCall { get; }

        public Throughput FloorThroughput { get; } = new("bare unary Echo 64 B");

        public Throughput Throughput { get; } = new($"Cloister {BenchSelectors.Echo} 64 B");

        public SortedDictionary<int, (LatencySamples Floor, LatencySamples Cloister)> Bulk { get; } = [];

        public LatencySamples Load { get; }

        public IEnumerable<string> Describe()
        {
            var lines = new List<string>();
            lines.AddRange(new[] { Unary, PingPong, Relay, RelayPingPong, Entry, HostCall }.Where(s => s.Count > 0).Select(s => s.ToString()));
            lines.AddRange(new[] { FloorThroughput, Throughput }.Where(t => t.PerSecond > 0).Select(t => t.ToString()));
            lines.AddRange(Bulk.Values.SelectMany(b => new[] { b.Floor, b.Cloister }).Where(s => s.Count > 0).Select(s => s.ToString()));
            if (Load.Count > 0)
            {
                lines.Add(Load.ToMillisecondsString());
            }

            return lines.Select(line => $"[{Label}] {line}");
        }
    }
}
