using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cloister;

/// <summary>
/// The calls of one enclave as measured on one side (the host, or the remote enclave's proxy). Callers check
/// <see cref="CloisterTelemetry.IsCallObserved"/> first and skip all of this when nobody listens.
/// </summary>
/// <remarks>
/// Cheap per call, because a measured call is on every path: the counts (started, completed, failed by status, bytes, in
/// flight) are plain interlocked counters per selector, which the observable instruments read when a listener collects;
/// only the duration is a measurement per call, into a histogram, with tags built once per selector. One instance per
/// enclave identity (side, name, backend, measurement) for the life of the process, so the counters of an enclave that is
/// destroyed and loaded again keep counting up, as Prometheus counters must; that is one small object per enclave name
/// and package the process has seen.
/// </remarks>
internal sealed class CallTelemetry
{
    /// <summary>At most this many selectors get series of their own per enclave and direction; the rest share one.</summary>
    private const int MaxSelectors = 1000;
    private const string OtherSelectors = "(other)";
    private const int MaxCachedSpanNames = 256;

    private static readonly ConcurrentDictionary<(CallSide Side, string Name, string Backend, string Measurement), CallTelemetry> Identities = new();
    private static readonly ConcurrentDictionary<string, string> EntrySpanNames = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string> HostCallSpanNames = new(StringComparer.Ordinal);

    private readonly TagList _entryTags;
    private readonly TagList _hostCallTags;
    private readonly CallSide _side;
    private readonly ConcurrentDictionary<string, SelectorCalls> _entry = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SelectorCalls> _hostCall = new(StringComparer.Ordinal);
    private long _entryActive;
    private long _hostCallActive;

    private CallTelemetry(string enclaveName, string backend, string measurement, CallSide side)
    {
        EnclaveName = enclaveName;
        Backend = backend;
        MeasurementPrefix = measurement;
        _side = side;
        var common = new TagList
        {
            { CloisterTags.EnclaveName, enclaveName },
            { CloisterTags.Backend, backend },
            { CloisterTags.Measurement, measurement },
            { CloisterTags.Side, side == CallSide.Host ? "host" : "proxy" },
        };
        _entryTags = common;
        _entryTags.Add(CloisterTags.Direction, "entry");
        _hostCallTags = common;
        _hostCallTags.Add(CloisterTags.Direction, "host_call");
        LifecycleTags = new TagList { { CloisterTags.EnclaveName, enclaveName }, { CloisterTags.Backend, backend } };
    }

    public string EnclaveName { get; }

    public string Backend { get; }

    /// <summary>The first hex digits of the package measurement (empty until it is known).</summary>
    public string MeasurementPrefix { get; }

    /// <summary>The enclave's name and backend: the tags of lifecycle instruments (loads, stages, destroys).</summary>
    public TagList LifecycleTags { get; }

    /// <summary>The telemetry of one enclave identity, the same object every time it is asked for.</summary>
    public static CallTelemetry For(string enclaveName, string backend, string measurement, CallSide side)
    {
        var prefix = measurement.Length > CloisterTags.MeasurementPrefixLength ? measurement[..CloisterTags.MeasurementPrefixLength] : measurement;
        return Identities.GetOrAdd((side, enclaveName, backend, prefix), static key => new CallTelemetry(key.Name, key.Backend, key.Measurement, key.Side));
    }

    /// <summary>
    /// Starts measuring one call: counts it, and starts its span when the activity source is listened to. The span's parent
    /// is <paramref name="remoteParent"/> (the caller's span, from over the wire) when given, else the current activity.
    /// </summary>
    public CallObservation Start(CallDirection direction, string selector, long requestBytes, ActivityContext remoteParent = default)
    {
        var calls = Calls(direction, selector);
        Interlocked.Increment(ref calls.Started);
        Interlocked.Add(ref calls.RequestBytes, requestBytes);
        if (direction == CallDirection.Entry)
        {
            Interlocked.Increment(ref _entryActive);
        }
        else
        {
            Interlocked.Increment(ref _hostCallActive);
        }

        Activity? activity = null;
        var source = CloisterTelemetry.Source;
        if (source.HasListeners())
        {
            activity = source.StartActivity(SpanName(direction, selector), Kind(direction), remoteParent);
            if (activity is { IsAllDataRequested: true })
            {
                // Three attributes: the span's name and kind already say the direction and the side.
                activity.AddTag(CloisterTags.EnclaveName, EnclaveName);
                activity.AddTag(CloisterTags.Backend, Backend);
                activity.AddTag(CloisterTags.Selector, calls.Selector);
            }
        }

        return new CallObservation(this, direction, calls, Stopwatch.GetTimestamp(), activity);
    }

    internal void Ended(CallDirection direction)
    {
        if (direction == CallDirection.Entry)
        {
            Interlocked.Decrement(ref _entryActive);
        }
        else
        {
            Interlocked.Decrement(ref _hostCallActive);
        }
    }

    private SelectorCalls Calls(CallDirection direction, string selector)
    {
        var table = direction == CallDirection.Entry ? _entry : _hostCall;
        if (table.TryGetValue(selector, out var calls))
        {
            return calls;
        }

        var tagged = table.Count < MaxSelectors ? selector : OtherSelectors;
        var tags = direction == CallDirection.Entry ? _entryTags : _hostCallTags;
        tags.Add(CloisterTags.Selector, tagged);
        return table.GetOrAdd(tagged, static (key, tags) => new SelectorCalls(key, tags), tags);
    }

    // Host side: the host calls out (client) and serves host calls (server); the proxy the other way round.
    private ActivityKind Kind(CallDirection direction) =>
        (direction == CallDirection.Entry) == (_side == CallSide.Host) ? ActivityKind.Client : ActivityKind.Server;

    /// <summary>"entry cloister.run", "host_call app.lookup": cached, so a traced call does not build its name each time.</summary>
    private static string SpanName(CallDirection direction, string selector)
    {
        var (cache, prefix) = direction == CallDirection.Entry ? (EntrySpanNames, "entry ") : (HostCallSpanNames, "host_call ");
        if (cache.TryGetValue(selector, out var name))
        {
            return name;
        }

        name = prefix + selector;
        if (cache.Count < MaxCachedSpanNames)
        {
            cache.TryAdd(selector, name);
        }

        return name;
    }

    // What the observable instruments report when a listener collects: every identity, every selector with calls.
    internal static IEnumerable<Measurement<long>> ObserveStarted() => ObservePerSelector(static c => c.Started);

    internal static IEnumerable<Measurement<long>> ObserveCompleted() => ObservePerSelector(static c => c.Completed);

    internal static IEnumerable<Measurement<long>> ObserveRequestBytes() => ObservePerSelector(static c => c.RequestBytes);

    internal static IEnumerable<Measurement<long>> ObserveResponseBytes() => ObservePerSelector(static c => c.ResponseBytes);

    internal static IEnumerable<Measurement<long>> ObserveFailed()
    {
        foreach (var telemetry in Identities.Values)
        {
            foreach (var calls in telemetry._entry.Values.Concat(telemetry._hostCall.Values))
            {
                for (var code = 0; code < calls.Failed.Length; code++)
                {
                    if (Volatile.Read(ref calls.Failed[code]) is > 0 and var count)
                    {
                        var tags = calls.Tags;
                        tags.Add(CloisterTags.StatusCode, CloisterTelemetry.StatusName((EnclaveStatusCode)code));
                        yield return new Measurement<long>(count, tags);
                    }
                }
            }
        }
    }

    internal static IEnumerable<Measurement<long>> ObserveActive()
    {
        foreach (var telemetry in Identities.Values)
        {
            if (!telemetry._entry.IsEmpty)
            {
                yield return new Measurement<long>(Volatile.Read(ref telemetry._entryActive), telemetry._entryTags);
            }

            if (!telemetry._hostCall.IsEmpty)
            {
                yield return new Measurement<long>(Volatile.Read(ref telemetry._hostCallActive), telemetry._hostCallTags);
            }
        }
    }

    private static IEnumerable<Measurement<long>> ObservePerSelector(Func<SelectorCalls, long> read)
    {
        foreach (var telemetry in Identities.Values)
        {
            foreach (var calls in telemetry._entry.Values)
            {
                yield return new Measurement<long>(read(calls), calls.Tags);
            }

            foreach (var calls in telemetry._hostCall.Values)
            {
                yield return new Measurement<long>(read(calls), calls.Tags);
            }
        }
    }

    /// <summary>The counters of one selector in one direction, and its tags (the enclave's, the direction, the selector).</summary>
    internal sealed class SelectorCalls(string selector, TagList tags)
    {
        public readonly string Selector = selector;
        public readonly TagList Tags = tags;
        public readonly long[] Failed = new long[(int)EnclaveStatusCode.Unauthenticated + 1];
        public long Started;
        public long Completed;
        public long RequestBytes;
        public long ResponseBytes;

        public void CountFailure(EnclaveStatusCode code) =>
            Interlocked.Increment(ref Failed[(uint)code < (uint)Failed.Length ? (int)code : (int)EnclaveStatusCode.Unknown]);
    }
}

/// <summary>One call being measured; <see cref="Complete"/> or <see cref="Fail"/> it exactly once.</summary>
internal readonly struct CallObservation
{
    private readonly CallTelemetry _telemetry;
    private readonly CallDirection _direction;
    private readonly CallTelemetry.SelectorCalls _calls;
    private readonly long _startTimestamp;
    private readonly Activity? _activity;

    public CallObservation(CallTelemetry telemetry, CallDirection direction, CallTelemetry.SelectorCalls calls, long startTimestamp, Activity? activity)
    {
        _telemetry = telemetry;
        _direction = direction;
        _calls = calls;
        _startTimestamp = startTimestamp;
        _activity = activity;
    }

    public void Complete(long responseBytes)
    {
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        _telemetry.Ended(_direction);
        Interlocked.Increment(ref _calls.Completed);
        Interlocked.Add(ref _calls.ResponseBytes, responseBytes);
        if (CloisterTelemetry.CallDuration.Enabled)
        {
            var tags = _calls.Tags;
            tags.Add(CloisterTags.StatusCode, "OK");
            CloisterTelemetry.CallDuration.Record(elapsed, tags);
        }

        _activity?.Dispose();
    }

    public void Fail(Exception exception)
    {
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var code = exception switch
        {
            EnclaveException enclave => enclave.StatusCode,
            OperationCanceledException => EnclaveStatusCode.Cancelled,
            _ => EnclaveStatusCode.Unknown,
        };
        var status = CloisterTelemetry.StatusName(code);
        _telemetry.Ended(_direction);
        _calls.CountFailure(code);
        if (CloisterTelemetry.CallDuration.Enabled)
        {
            var tags = _calls.Tags;
            tags.Add(CloisterTags.StatusCode, status);
            CloisterTelemetry.CallDuration.Record(elapsed, tags);
        }

        if (_activity is not null)
        {
            _activity.SetTag(CloisterTags.StatusCode, status);
            _activity.SetStatus(ActivityStatusCode.Error, exception.Message);
            _activity.Dispose();
        }
    }
}
