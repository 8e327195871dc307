using System.Diagnostics;
using System.Security.Cryptography;
using Cloister.Benchmarks;
using Cloister.Perf.Bare;
using Cloister.Perf.Measurement;
using Cloister.Perf.Remote;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Ratio;

/// <summary>
/// Figures 7 and 8: provisioning through a real provision server (<c>serve-provision</c>, a child process running
/// <see cref="ProvisionServer"/>) over TLS on loopback, the host authenticating with a bearer token; the host's channels
/// to the proxies are TLS too.
/// <list type="bullet">
/// <item>7: uploading a 64 MiB package (the bench enclave and 64 MiB of random bytes), MiB/s from the p50, against a bare
/// gRPC client stream of the same bytes over TLS to <c>serve-bare</c>. Both are timed from the start of the upload (a
/// new channel each time, the TLS handshake included) to the moment the last 1 MiB chunk has been written to the
/// call: for Cloister through <see cref="RemoteProvisionOptions.Progress"/> (see <see cref="TimedProvision"/>), for
/// the floor right after its last write. The rest of each Cloister load (the server verifies the package, starts a
/// proxy that extracts it, Initialize) is not part of the figure; it is in the details.</item>
/// <item>8: the load of the example package through the provision server, p50 (as figure 5, which provisions locally).</item>
/// </list>
/// </summary>
internal sealed class RemoteProvisioning(RunSettings settings, IReadOnlySet<int> figures, ILoggerFactory loggerFactory, TextWriter progress)
{
    private const int FillerBytes = 64 << 20;
    private const string Label = "tls";
    private TimedProvision? _last;
    private long _packageBytes;
    private string _loadName = EnclaveFolders.Bench;

    public LatencySamples FloorUpload { get; } = new("bare TLS client stream Upload of the 64 MiB package, to its last chunk written", settings.Uploads);

    public LatencySamples Upload { get; } = new("Cloister upload of the 64 MiB package to the provision server, to its last chunk written", settings.Uploads);

    public LatencySamples BigLoad { get; } = new("Cloister load of the 64 MiB package through the provision server (upload, verify, proxy start and extraction, connect, Initialize)", settings.Uploads);

    public LatencySamples Load { get; } = new("Cloister load through the provision server", settings.Loads);

    public LatencySamples LoadProvision { get; } = new("  of which provisioning (upload, the server's verification, proxy started)", settings.Loads);

    public async Task MeasureAsync(string loadPackage, string loadName, string work, RunCertificates certificates, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        _loadName = loadName;
        progress.WriteLine($"[{Label}] starting a provision server (TLS, bearer token)");
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var tokenFile = Path.Combine(work, "provision-token");
        await File.WriteAllTextAsync(tokenFile, token, cancellationToken);
        await using var server = await ServerProcess.StartSelfAsync(ServeProvisionCommand.Name,
            [
                "--address", "127.0.0.1:0", "--token-file", tokenFile, "--security-type", "tls",
                "--ssl-server-cert", certificates.ServerCertificate, "--ssl-server-key", certificates.ServerKey, "--ssl-ca-cert", certificates.Ca,
            ],
            ServeProvisionCommand.ListeningPrefix, children, cancellationToken);

        var security = certificates.Security(ChannelSecurityType.Tls);
        var config = new RemoteProxyConfig
        {
            HostAddress = "127.0.0.1:0",
            Security = security,
            Provision = _ => _last = new TimedProvision(new RemoteProvisionOptions { ServerAddress = server.Ready, BearerToken = token }, security, loggerFactory),
        };
        await using var host = new RemoteHost(config, loggerFactory);

        if (figures.Contains(7))
        {
            await MeasureUploadsAsync(host, work, certificates, children, cancellationToken);
        }

        if (figures.Contains(8))
        {
            await MeasureLoadsAsync(host, loadPackage, cancellationToken);
        }
    }

    private async Task MeasureUploadsAsync(RemoteHost host, string work, RunCertificates certificates, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        progress.WriteLine($"[{Label}] packing the bench enclave with {FillerBytes >> 20} MiB of random bytes; starting the bare TLS server");
        var package = await EnclaveFolders.PackWithFillerAsync(EnclaveFolders.Bench, FillerBytes, work, cancellationToken);
        var bytes = await File.ReadAllBytesAsync(package, cancellationToken);
        _packageBytes = bytes.Length;
        await using var bare = await BareServerProcess.StartAsync(BareAddress.Parse("127.0.0.1:0"), callback: null, certificates, children, cancellationToken);
        using var ca = certificates.LoadCa();

        async Task<long> FloorAsync(CancellationToken ct)
        {
            var start = Stopwatch.GetTimestamp();
            using var channel = bare.Address.CreateChannel(ca);
            using var call = new BareService.BareServiceClient(channel).Upload(cancellationToken: ct);
            await BulkTransfer.ScatterAsync(call.RequestStream, bytes, ct);
            var sent = Stopwatch.GetTimestamp();
            await call.RequestStream.CompleteAsync();
            var received = (await call.ResponseAsync).ReceivedBytes;
            return received == (ulong)bytes.Length
                ? sent - start
                : throw new InvalidOperationException($"The bare server received {received} of the {bytes.Length} bytes uploaded; the figure would be meaningless.");
        }

        var loads = 0;
        async Task<(long Upload, long Load)> CloisterAsync(CancellationToken ct)
        {
            var start = Stopwatch.GetTimestamp();
            var client = await host.LoadAsync($"upload-{loads++}", package, ct);
            var loaded = Stopwatch.GetTimestamp();
            var provision = _last!;
            if (provision.PackageBytes != bytes.Length || provision.Uploaded == 0)
            {
                throw new InvalidOperationException($"The upload reported {provision.PackageBytes} of the package's {bytes.Length} bytes; the figure would be meaningless.");
            }

            var small = new byte[64];
            Random.Shared.NextBytes(small);
            if (!(await client.InvokeAsync(BenchSelectors.Echo, small, ct)).Span.SequenceEqual(small))
            {
                throw new InvalidOperationException($"The enclave provisioned from the {bytes.Length >> 20} MiB package does not echo; the figure would be meaningless.");
            }

            await host.Manager.DestroyEnclaveAsync(client, cancellationToken: ct);
            return (provision.Uploaded - provision.Started, loaded - start);
        }

        async Task RecordCloisterAsync(CancellationToken ct)
        {
            var (upload, load) = await CloisterAsync(ct);
            Upload.Add(upload);
            BigLoad.Add(load);
        }

        // The first of each is the check and the warm-up (and starts the backend's own server); then they take turns.
        progress.WriteLine($"[{Label}] {bytes.Length >> 20} MiB uploads, bare and through the provision server, in turns (up to {settings.Uploads} each, {settings.UploadTime.TotalSeconds:0} s)");
        await FloorAsync(cancellationToken);
        await CloisterAsync(cancellationToken);
        var deadline = Stopwatch.GetTimestamp() + (long)(settings.UploadTime.TotalSeconds * Stopwatch.Frequency);
        for (var cycle = 0; Stopwatch.GetTimestamp() < deadline && !(FloorUpload.IsFull && Upload.IsFull); cycle++)
        {
            if (cycle % 2 == 0)
            {
                FloorUpload.Add(await FloorAsync(cancellationToken));
                await RecordCloisterAsync(cancellationToken);
            }
            else
            {
                await RecordCloisterAsync(cancellationToken);
                FloorUpload.Add(await FloorAsync(cancellationToken));
            }
        }
    }

    private Task MeasureLoadsAsync(RemoteHost host, string package, CancellationToken cancellationToken) =>
        host.TimeLoadsAsync(package, settings.Loads, $"[{Label}] load {_loadName} through the provision server", progress, elapsed =>
        {
            Load.Add(elapsed);
            LoadProvision.Add(_last!.Provisioned - _last.Started);
        }, cancellationToken);

    public IEnumerable<Figure> Figures()
    {
        yield return Figure.AtLeast($"7 upload {FillerBytes >> 20} MiB package to a provision server vs bare client stream ({Label})", "MiB/s", FloorUpload.MiBPerSecond(_packageBytes), Upload.MiBPerSecond(_packageBytes), 0.80);
        yield return Figure.Under($"8 provision + Initialize {_loadName} via a provision server p50 ({Label})", "ms", Load.P50 / 1000, 500);
    }

    public IEnumerable<string> Describe()
    {
        var lines = new List<string>();
        lines.AddRange(new[] { FloorUpload, Upload }.Where(s => s.Count > 0).Select(s => $"{s} ({_packageBytes:#,0} bytes)"));
        lines.AddRange(new[] { BigLoad, Load, LoadProvision }.Where(s => s.Count > 0).Select(s => s.ToMillisecondsString()));
        return lines.Select(line => $"[{Label}] {line}");
    }
}
