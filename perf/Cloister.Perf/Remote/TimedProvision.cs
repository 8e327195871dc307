using System.Diagnostics;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

namespace Cloister.Perf.Remote;

/// <summary>
/// A <see cref="RemoteProxyProvision"/> (provisioning through a provision server) that notes when it was asked to
/// provision, when the upload's progress callback reported the last byte sent, and when the server reported the proxy
/// started. Everything else is passed through: what is timed is Cloister's own client. The upload ends, on this side,
/// when the last chunk has been handed to the channel: HTTP/2 flow control leaves at most the server's receive window
/// (Kestrel's default: 768 KiB a stream, 1 MiB a connection) in flight then. The bare upload it is compared with is
/// timed to the same point.
/// </summary>
internal sealed class TimedProvision : IRemoteProvision, IProgress<(long Sent, long Total)>
{
    private readonly RemoteProxyProvision _provision;

    public TimedProvision(RemoteProvisionOptions options, ChannelSecurity security, ILoggerFactory loggerFactory)
    {
        options.Progress = this;
        _provision = new RemoteProxyProvision(options, security, loggerFactory);
    }

    /// <summary><see cref="Stopwatch"/> timestamps; 0 until reached.</summary>
    public long Started { get; private set; }

    public long Uploaded { get; private set; }

    public long Provisioned { get; private set; }

    /// <summary>The package's size, as uploaded.</summary>
    public long PackageBytes { get; private set; }

    public Task<ProxyExitStatus> Exited => _provision.Exited;

    public string RecentOutput => _provision.RecentOutput;

    public string? ProxyHost => _provision.ProxyHost;

    public async ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken)
    {
        Started = Stopwatch.GetTimestamp();
        await _provision.ProvisionAsync(request, cancellationToken);
        Provisioned = Stopwatch.GetTimestamp();
    }

    // Called synchronously by the upload loop after each chunk is written.
    public void Report((long Sent, long Total) value)
    {
        if (value.Sent == value.Total)
        {
            Uploaded = Stopwatch.GetTimestamp();
            PackageBytes = value.Total;
        }
    }

    public ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default) => _provision.FinalizeAsync(gracePeriod, cancellationToken);

    public ValueTask DisposeAsync() => _provision.DisposeAsync();
}
