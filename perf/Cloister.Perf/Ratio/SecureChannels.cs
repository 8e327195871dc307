using Cloister.Benchmarks;
using Cloister.Perf.Bare;
using Cloister.Perf.Measurement;
using Cloister.Perf.Remote;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Ratio;

/// <summary>
/// Figure 9: what TLS and mutual TLS cost a remote entry call (64 B, p50), against the same call in plaintext, over TCP
/// on loopback. Three hosts (plaintext, TLS, mutual TLS: <see cref="RemoteProxyConfig.Security"/>), each with the bench
/// enclave in a proxy of its own, take turns a block of calls at a time. The handshakes happen at load, so this is the
/// cost of TLS on a warm connection. For information: no goal is set. For scale, the details also give what TLS costs
/// bare gRPC: a unary <c>Echo</c> to <c>serve-bare</c> in plaintext and over TLS, in the same turns.
/// </summary>
internal sealed class SecureChannels(RunSettings settings, ILoggerFactory loggerFactory, TextWriter progress)
{
    private const string Label = "tcp";

    public LatencySamples Plain { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, plaintext", settings.LatencyMaxCalls);

    public LatencySamples Tls { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, TLS", settings.LatencyMaxCalls);

    public LatencySamples MutualTls { get; } = new($"Cloister {BenchSelectors.Echo} 64 B, mutual TLS", settings.LatencyMaxCalls);

    public LatencySamples BarePlain { get; } = new("bare unary Echo 64 B, plaintext", settings.LatencyMaxCalls);

    public LatencySamples BareTls { get; } = new("bare unary Echo 64 B, TLS", settings.LatencyMaxCalls);

    public async Task MeasureAsync(string package, RunCertificates certificates, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        progress.WriteLine($"[{Label}] loading the bench enclave three times: plaintext, TLS, mutual TLS; starting bare servers, plaintext and TLS");
        await using var barePlainServer = await BareServerProcess.StartAsync(BareAddress.Parse("127.0.0.1:0"), callback: null, tls: null, children, cancellationToken);
        await using var bareTlsServer = await BareServerProcess.StartAsync(BareAddress.Parse("127.0.0.1:0"), callback: null, certificates, children, cancellationToken);
        using var ca = certificates.LoadCa();
        await using var barePlain = new BareFloor(barePlainServer.Address);
        await using var bareTls = new BareFloor(bareTlsServer.Address, ca);
        await using var plain = new RemoteHost("127.0.0.1:0", children, loggerFactory, security: certificates.Security(ChannelSecurityType.Insecure));
        await using var tls = new RemoteHost("127.0.0.1:0", children, loggerFactory, security: certificates.Security(ChannelSecurityType.Tls));
        await using var mutualTls = new RemoteHost("127.0.0.1:0", children, loggerFactory, security: certificates.Security(ChannelSecurityType.MutualTls));

        var small = new byte[64];
        Random.Shared.NextBytes(small);
        var operations = new List<(Operation, LatencySamples)>();
        foreach (var (host, samples) in new[] { (plain, Plain), (tls, Tls), (mutualTls, MutualTls) })
        {
            var client = await host.LoadAsync("secure", package, cancellationToken);
            samples.Server = host.LastProvision?.ProcessId is { } proxy ? CpuMeter.ForProcess(proxy) : null;
            if (!(await client.InvokeAsync(BenchSelectors.Echo, small, cancellationToken)).Span.SequenceEqual(small))
            {
                throw new InvalidOperationException($"{samples.Name} did not echo its payload; the figure would be meaningless.");
            }

            operations.Add((async ct => await client.InvokeAsync(BenchSelectors.Echo, small, ct), samples));
        }

        foreach (var (floor, server, samples) in new[] { (barePlain, barePlainServer, BarePlain), (bareTls, bareTlsServer, BareTls) })
        {
            samples.Server = CpuMeter.ForProcess(server.ProcessId);
            if (!(await floor.EchoAsync(small, cancellationToken)).Span.SequenceEqual(small))
            {
                throw new InvalidOperationException($"{samples.Name} did not echo its payload; the figure would be meaningless.");
            }

            operations.Add((async ct => await floor.EchoAsync(small, ct), samples));
        }

        progress.WriteLine($"[{Label}] warming up");
        foreach (var (operation, _) in operations)
        {
            await Sampler.WarmUpAsync(operation, settings.WarmUpCalls, settings.WarmUpTime, cancellationToken);
        }

        progress.WriteLine($"[{Label}] 64 B calls, plaintext, TLS and mutual TLS, Cloister and bare, in turns ({settings.LatencyTime.TotalSeconds:0} s)");
        await Sampler.RecordInterleavedAsync(operations, settings.LatencyBlock, settings.LatencyTime, cancellationToken);
    }

    public IEnumerable<Figure> Figures() =>
    [
        Figure.Informational($"9 entry call 64 B p50, TLS vs plaintext ({Label})", "us", Plain.P50, Tls.P50),
        Figure.Informational($"9 entry call 64 B p50, mutual TLS vs plaintext ({Label})", "us", Plain.P50, MutualTls.P50),
    ];

    public IEnumerable<string> Describe()
    {
        var lines = new[] { Plain, Tls, MutualTls, BarePlain, BareTls }.Where(s => s.Count > 0).Select(s => s.ToString()).ToList();
        if (BarePlain.Count > 0 && BareTls.Count > 0)
        {
            lines.Add($"TLS vs plaintext, bare gRPC: {BareTls.P50 / BarePlain.P50:0.00}x (Cloister: {Tls.P50 / Plain.P50:0.00}x)");
        }

        return lines.Select(line => $"[{Label}] {line}");
    }
}
