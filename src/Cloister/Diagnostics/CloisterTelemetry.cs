using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Cloister;

/// <summary>
/// Cloister's instruments and activity source. They are static: creating an instrument is costly, recording into one
/// nobody listens to costs a field read. Per-enclave tags live in <see cref="CallTelemetry"/>.
/// </summary>
internal static class CloisterTelemetry
{
    private static readonly string Version = typeof(CloisterTelemetry).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static readonly Meter Meter = new(CloisterDiagnostics.MeterName, Version);

    public static readonly ActivitySource Source = new(CloisterDiagnostics.ActivitySourceName, Version);

    // Calls: from 10 µs (a fast remote call on a Unix socket is ~50 µs) to 10 s. A sim call (~100 ns) lands in the first bucket.
    private static readonly double[] CallBuckets = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    // Loads and provisioning stages: from 1 ms (a sim Initialize) to a minute (a slow upload).
    private static readonly double[] LifecycleBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    // The call counts are observable: plain interlocked counters per enclave and selector (CallTelemetry), read when a
    // listener collects, so a measured call costs a few interlocked adds and one histogram record, not seven measurements.
    public static readonly ObservableCounter<long> CallsStarted = Meter.CreateObservableCounter("cloister.calls.started", CallTelemetry.ObserveStarted, "{call}",
        "Calls started (entry calls and host calls), counted where they are measured (cloister.call.side).");

    public static readonly ObservableCounter<long> CallsCompleted = Meter.CreateObservableCounter("cloister.calls.completed", CallTelemetry.ObserveCompleted, "{call}",
        "Calls that completed successfully.");

    public static readonly ObservableCounter<long> CallsFailed = Meter.CreateObservableCounter("cloister.calls.failed", CallTelemetry.ObserveFailed, "{call}",
        "Calls that failed, by status code (cloister.status_code).");

    public static readonly ObservableUpDownCounter<long> CallsActive = Meter.CreateObservableUpDownCounter("cloister.calls.active", CallTelemetry.ObserveActive, "{call}",
        "Calls in flight, per enclave, side and direction.");

    public static readonly Histogram<double> CallDuration = Meter.CreateHistogram("cloister.call.duration", "s",
        "How long calls took, from start to reply or failure, by status code (OK for success).", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = CallBuckets });

    public static readonly ObservableCounter<long> RequestSize = Meter.CreateObservableCounter("cloister.call.request.size", CallTelemetry.ObserveRequestBytes, "By",
        "Payload bytes sent with calls (request payloads, without framing).");

    public static readonly ObservableCounter<long> ResponseSize = Meter.CreateObservableCounter("cloister.call.response.size", CallTelemetry.ObserveResponseBytes, "By",
        "Payload bytes returned by successful calls (reply payloads, without framing).");

    public static readonly Counter<long> Loads = Meter.CreateCounter<long>("cloister.enclave.loads", "{load}",
        "Enclave loads, by outcome (cloister.status_code, OK for success).");

    public static readonly Histogram<double> LoadDuration = Meter.CreateHistogram("cloister.enclave.load.duration", "s",
        "How long LoadEnclaveAsync took, by outcome: verification, provisioning and Initialize.", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = LifecycleBuckets });

    public static readonly Histogram<double> ProvisionDuration = Meter.CreateHistogram("cloister.enclave.provision.duration", "s",
        "How long each stage of a load took (cloister.provision.stage: upload, spawn, connect, initialize).", tags: null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = LifecycleBuckets });

    public static readonly Counter<long> Destroys = Meter.CreateCounter<long>("cloister.enclave.destroys", "{destroy}",
        "Enclaves destroyed.");

    public static readonly Counter<long> ProxyExits = Meter.CreateCounter<long>("cloister.proxy.exits", "{exit}",
        "Proxy processes that exited, by reason (cloister.proxy.exit.reason).");

    /// <summary>
    /// Whether anybody listens to a call instrument or to the activity source: when not, calls take the bare path. About
    /// 2 ns when nobody listens (two field reads per instrument); every instrument is asked, so a listener that enables
    /// only some of them (an OpenTelemetry view that drops the others) still gets its measurements.
    /// </summary>
    public static bool IsCallObserved
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !SuppressCallObservation && (Source.HasListeners() || CallsStarted.Enabled || CallsCompleted.Enabled || CallsFailed.Enabled || CallDuration.Enabled
            || CallsActive.Enabled || RequestSize.Enabled || ResponseSize.Enabled);
    }

    /// <summary>
    /// For measurement only, not a setting: while true, calls in this process take the bare path as if nobody listened.
    /// The perf runner (figure 6) flips it between calls to time observed and unobserved calls one after the other under
    /// the same listeners, in the same state of the process, which blocks of each cannot give (see perf/README.md).
    /// </summary>
    internal static bool SuppressCallObservation;

    public static string StatusName(EnclaveStatusCode code) =>
        (uint)code < (uint)StatusNames.Length && StatusNames[(int)code] is { } name
            ? name
            : ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string StatusName(Exception exception) => exception switch
    {
        EnclaveException enclave => StatusName(enclave.StatusCode),
        OperationCanceledException => StatusName(EnclaveStatusCode.Cancelled),
        _ => StatusName(EnclaveStatusCode.Unknown),
    };

    // Cached so a failure tag costs no allocation; the names are the enum's, as in the logs.
    private static readonly string?[] StatusNames = CreateStatusNames();

    private static string?[] CreateStatusNames()
    {
        var values = Enum.GetValues<EnclaveStatusCode>();
        var names = new string?[(int)values.Max() + 1];
        foreach (var value in values)
        {
            names[(int)value] = value.ToString();
        }

        return names;
    }

    /// <summary>Records the time since <paramref name="startTimestamp"/> into a lifecycle histogram.</summary>
    public static void RecordSince(Histogram<double> histogram, long startTimestamp, in TagList tags)
    {
        if (histogram.Enabled)
        {
            histogram.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        }
    }

    /// <summary>A provisioning stage's duration, for the enclave of <paramref name="telemetry"/>.</summary>
    public static void RecordStage(CallTelemetry telemetry, string stage, long startTimestamp) =>
        RecordStage(telemetry, stage, startTimestamp, Stopwatch.GetTimestamp());

    /// <summary>A provisioning stage's duration from <paramref name="startTimestamp"/> to <paramref name="endTimestamp"/>.</summary>
    public static void RecordStage(CallTelemetry telemetry, string stage, long startTimestamp, long endTimestamp)
    {
        if (ProvisionDuration.Enabled)
        {
            var tags = telemetry.LifecycleTags;
            tags.Add(CloisterTags.Stage, stage);
            ProvisionDuration.Record(Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalSeconds, tags);
        }
    }
}

/// <summary>The tag (attribute) names of Cloister's instruments and spans; see docs/observability.md.</summary>
internal static class CloisterTags
{
    public const string EnclaveName = "cloister.enclave.name";
    public const string Backend = "cloister.backend";
    public const string Measurement = "cloister.enclave.measurement";
    public const string Side = "cloister.call.side";
    public const string Direction = "cloister.call.direction";
    public const string Selector = "cloister.call.selector";
    public const string StatusCode = "cloister.status_code";
    public const string Stage = "cloister.provision.stage";
    public const string ExitReason = "cloister.proxy.exit.reason";
    public const string RejectionReason = "cloister.rejection.reason";

    /// <summary>How many hex digits of the measurement tag metrics: enough to tell builds apart, short enough to read.</summary>
    public const int MeasurementPrefixLength = 12;
}

/// <summary>Which way a call goes.</summary>
internal enum CallDirection
{
    /// <summary>Host to enclave.</summary>
    Entry,

    /// <summary>Enclave to host.</summary>
    HostCall,
}

/// <summary>Where a call is measured: the host process, or the remote enclave's proxy process.</summary>
internal enum CallSide
{
    Host,
    Proxy,
}

/// <summary>The provisioning stages of a load, as tagged on <c>cloister.enclave.provision.duration</c>.</summary>
internal static class ProvisionStages
{
    /// <summary>Sending the package to a provision server, until it has received all of it (remote provisioning only).</summary>
    public const string Upload = "upload";

    public const string Spawn = "spawn";
    public const string Connect = "connect";
    public const string Initialize = "initialize";
}
