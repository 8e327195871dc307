using System.Diagnostics.Metrics;

namespace Cloister.Remote;

/// <summary>Why a provision server refused (or could not complete) a request, as tagged on <c>cloister.provision_server.rejections</c>.</summary>
internal enum RejectionReason
{
    /// <summary>No client certificate (mutual TLS) or no valid bearer token.</summary>
    Unauthenticated,

    /// <summary>The call broke the protocol: no <c>ProvisionStart</c> first, a field missing, an unexpected message.</summary>
    InvalidRequest,

    /// <summary>The announced package is over <c>--max-package-bytes</c>; refused before the upload.</summary>
    TooLarge,

    /// <summary><c>--max-enclaves</c> or <c>--max-enclaves-per-client</c> reached.</summary>
    Limit,

    /// <summary>The server is shutting down.</summary>
    Stopping,

    /// <summary>The upload sent more or fewer bytes than announced, or broke off (the host went away mid-upload).</summary>
    UploadFailed,

    /// <summary>The package failed verification (format, size caps, a path escaping its folder).</summary>
    InvalidPackage,

    /// <summary>The package's measurement is not on <c>--allowed-measurement</c>.</summary>
    NotAllowed,

    /// <summary>The proxy for a verified package could not be started.</summary>
    LaunchFailed,
}

/// <summary>
/// A provision server's figures: enclaves running, uploads in flight, bytes received, requests refused by reason. Plain
/// interlocked counters, read by observable instruments when a reader collects (its <c>--metrics-port</c>). The instruments
/// belong to a meter of the server's own, named <see cref="CloisterDiagnostics.MeterName"/> like the rest, so they exist
/// while the server runs and disposing it withdraws them.
/// </summary>
internal sealed class ProvisionServerMetrics : IDisposable
{
    private static readonly string[] ReasonNames =
        ["unauthenticated", "invalid_request", "too_large", "limit", "stopping", "upload_failed", "invalid_package", "not_allowed", "launch_failed"];

    private readonly Meter _meter;
    private readonly long[] _rejections = new long[ReasonNames.Length];
    private readonly KeyValuePair<string, object?>[][] _reasonTags;
    private long _enclaves;
    private long _uploads;
    private long _uploadBytes;

    public ProvisionServerMetrics()
    {
        _reasonTags = [.. ReasonNames.Select(name => new[] { new KeyValuePair<string, object?>(CloisterTags.RejectionReason, name) })];
        _meter = new Meter(CloisterDiagnostics.MeterName, CloisterTelemetry.Meter.Version);
        _meter.CreateObservableUpDownCounter("cloister.provision_server.enclaves", () => Volatile.Read(ref _enclaves), "{enclave}",
            "Enclaves the provision server runs: their proxy started and has not ended.");
        _meter.CreateObservableUpDownCounter("cloister.provision_server.uploads.active", () => Volatile.Read(ref _uploads), "{upload}",
            "Package uploads in flight.");
        _meter.CreateObservableCounter("cloister.provision_server.upload.size", () => Volatile.Read(ref _uploadBytes), "By",
            "Package bytes received, by every upload (completed or not).");
        _meter.CreateObservableCounter("cloister.provision_server.rejections", ObserveRejections, "{request}",
            "Requests the provision server refused or could not complete, by reason (cloister.rejection.reason).");
    }

    /// <summary>The tag value of <paramref name="reason"/>, as in the logs.</summary>
    public static string Name(RejectionReason reason) => ReasonNames[(int)reason];

    public void EnclaveStarted() => Interlocked.Increment(ref _enclaves);

    public void EnclaveEnded() => Interlocked.Decrement(ref _enclaves);

    public void UploadStarted() => Interlocked.Increment(ref _uploads);

    public void UploadEnded() => Interlocked.Decrement(ref _uploads);

    public void Received(int bytes) => Interlocked.Add(ref _uploadBytes, bytes);

    public void Rejected(RejectionReason reason) => Interlocked.Increment(ref _rejections[(int)reason]);

    // Every reason, zeros included, so that rate() and alerts work before the first refusal.
    private IEnumerable<Measurement<long>> ObserveRejections()
    {
        for (var i = 0; i < _rejections.Length; i++)
        {
            yield return new Measurement<long>(Volatile.Read(ref _rejections[i]), _reasonTags[i]);
        }
    }

    public void Dispose() => _meter.Dispose();
}
