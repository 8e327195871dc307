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

    private static readonly ConcurrentDictionary<(CallSide Side, string Name, string Backend, string Measurement), CallTelemetry> Identities = new();

    private readonly TagList _entryTags;
    private readonly TagList _hostCallTags;
    private readonly CallSide _side;
    private readonly ConcurrentDictionary<string, SelectorCalls> _entry = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SelectorCalls> _hostCall = new(StringComparer.Ordinal);

    // The selector each direction was last called with: callers usually call one selector many times in a row, so one
    // string comparison often spares the dictionary's hashing.
    private SelectorCalls? _lastEntry;
    private SelectorCalls? _lastHostCall;

    // Set once a direction has reached its limit of selectors (new ones count into "(other)").
    private bool _entryFull;
    private bool _hostCallFull;

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
        var counters = calls.Counters;
        Interlocked.Increment(ref counters.Started);
        Interlocked.Increment(ref counters.Active);
        Interlocked.Add(ref counters.RequestBytes, requestBytes);

        Activity? activity = null;
        var source = CloisterTelemetry.Source;
        if (source.HasListeners())
        {
            // A selector counted as "(other)" still names its span.
            var name = string.Equals(calls.Selector, selector, StringComparison.Ordinal) ? calls.SpanName : SpanName(direction, selector);
            activity = source.StartActivity(name, Kind(direction), remoteParent);
            if (activity is { IsAllDataRequested: true })
            {
                // Three attributes: the span's name and kind already say the direction and the side.
                activity.AddTag(CloisterTags.EnclaveName, EnclaveName);
                activity.AddTag(CloisterTags.Backend, Backend);
                activity.AddTag(CloisterTags.Selector, calls.Selector);
            }
        }

        return new CallObservation(calls, Stopwatch.GetTimestamp(), activity);
    }

    private SelectorCalls Calls(CallDirection direction, string selector)
    {
        ref var last = ref direction == CallDirection.Entry ? ref _lastEntry : ref _lastHostCall;
        if (Volatile.Read(ref last) is { } cached && string.Equals(cached.Selector, selector, StringComparison.Ordinal))
        {
            return cached;
        }

        var table = direction == CallDirection.Entry ? _entry : _hostCall;
        if (!table.TryGetValue(selector, out var calls))
        {
            // Past the limit every new selector counts into "(other)"; the flag spares counting the table (which takes
            // all of its locks) on every such call.
            ref var full = ref direction == CallDirection.Entry ? ref _entryFull : ref _hostCallFull;
            if (Volatile.Read(ref full) && table.TryGetValue(OtherSelectors, out var other))
            {
                return other;
            }

            var overLimit = table.Count >= MaxSelectors;
            var tagged = overLimit ? OtherSelectors : selector;
            var tags = direction == CallDirection.Entry ? _entryTags : _hostCallTags;
            tags.Add(CloisterTags.Selector, tagged);
            calls = table.GetOrAdd(tagged, static (key, state) => new SelectorCalls(key, state.tags, SpanName(state.direction, key)), (tags, direction));
            if (overLimit)
            {
                Volatile.Write(ref full, true);
                return calls;
            }
        }

        // Only a selector's own series is kept as the last one: "(other)" stands for many.
        Volatile.Write(ref last, calls);
        return calls;
    }

    // Host side: the host calls out (client) and serves host calls (server); the proxy the other way round.
    private ActivityKind Kind(CallDirection direction) =>
        (direction == CallDirection.Entry) == (_side == CallSide.Host) ? ActivityKind.Client : ActivityKind.Server;

    /// <summary>"entry cloister.run", "host_call app.lookup": built once per selector, kept with its counters.</summary>
    private static string SpanName(CallDirection direction, string selector) =>
        (direction == CallDirection.Entry ? "entry " : "host_call ") + selector;

    // What the observable instruments report when a listener collects: every identity, every selector with calls.
    internal static IEnumerable<Measurement<long>> ObserveStarted() => ObservePerSelector(static c => Volatile.Read(ref c.Started));

    internal static IEnumerable<Measurement<long>> ObserveCompleted() => ObservePerSelector(static c => Volatile.Read(ref c.Completed));

    internal static IEnumerable<Measurement<long>> ObserveRequestBytes() => ObservePerSelector(static c => Volatile.Read(ref c.RequestBytes));

    internal static IEnumerable<Measurement<long>> ObserveResponseBytes() => ObservePerSelector(static c => Volatile.Read(ref c.ResponseBytes));

    internal static IEnumerable<Measurement<long>> ObserveFailed()
    {
        foreach (var telemetry in Identities.Values)
        {
            foreach (var calls in telemetry._entry.Values.Concat(telemetry._hostCall.Values))
            {
                var failed = calls.Counters.Failed;
                for (var code = 0; code < failed.Length; code++)
                {
                    if (Volatile.Read(ref failed[code]) is > 0 and var count)
                    {
                        var tags = calls.Tags;
                        tags.Add(CloisterTags.StatusCode, CloisterTelemetry.StatusName((EnclaveStatusCode)code));
                        yield return new Measurement<long>(count, tags);
                    }
                }
            }
        }
    }

    /// <summary>Calls in flight per enclave identity and direction: each selector counts its own, summed here.</summary>
    internal static IEnumerable<Measurement<long>> ObserveActive()
    {
        foreach (var telemetry in Identities.Values)
        {
            if (!telemetry._entry.IsEmpty)
            {
                yield return new Measurement<long>(SumActive(telemetry._entry), telemetry._entryTags);
            }

            if (!telemetry._hostCall.IsEmpty)
            {
                yield return new Measurement<long>(SumActive(telemetry._hostCall), telemetry._hostCallTags);
            }
        }

        static long SumActive(ConcurrentDictionary<string, SelectorCalls> table) =>
            table.Values.Sum(static calls => Volatile.Read(ref calls.Counters.Active));
    }

    private static IEnumerable<Measurement<long>> ObservePerSelector(Func<Counters, long> read)
    {
        foreach (var telemetry in Identities.Values)
        {
            foreach (var calls in telemetry._entry.Values)
            {
                yield return new Measurement<long>(read(calls.Counters), calls.Tags);
            }

            foreach (var calls in telemetry._hostCall.Values)
            {
                yield return new Measurement<long>(read(calls.Counters), calls.Tags);
            }
        }
    }

    /// <summary>
    /// One selector in one direction: its counters, its tags (the enclave's, the direction, the selector) and its span name.
    /// </summary>
    internal sealed class SelectorCalls(string selector, TagList tags, string spanName)
    {
        /// <summary>The selector as tagged: its name, or "(other)" past the limit.</summary>
        public string Selector { get; } = selector;

        public TagList Tags { get; } = tags;

        /// <summary>The tags of a successful call's duration, built once: recording a measurement copies no tag list.</summary>
        public KeyValuePair<string, object?>[] SucceededTags { get; } = WithStatus(tags, "OK");

        public string SpanName { get; } = spanName;

        public Counters Counters { get; } = new();

        private static KeyValuePair<string, object?>[] WithStatus(TagList tags, string status)
        {
            tags.Add(CloisterTags.StatusCode, status);
            return [.. tags];
        }
    }

    /// <summary>
    /// The counts of one selector, neighbouring fields of a small object of their own: a call's start and its end, often
    /// on two threads, touch a line or two of memory between them rather than several objects.
    /// </summary>
    internal sealed class Counters
    {
        public long Started;
        public long Active;
        public long Completed;
        public long RequestBytes;
        public long ResponseBytes;
        public readonly long[] Failed = new long[(int)EnclaveStatusCode.Unauthenticated + 1];

        public void CountFailure(EnclaveStatusCode code) =>
            Interlocked.Increment(ref Failed[(uint)code < (uint)Failed.Length ? (int)code : (int)EnclaveStatusCode.Unknown]);
    }
}

/// <summary>One call being measured; <see cref="Complete"/> or <see cref="Fail"/> it exactly once.</summary>
internal readonly struct CallObservation
{
    private readonly CallTelemetry.SelectorCalls _calls;
    private readonly long _startTimestamp;
    private readonly Activity? _activity;

    public CallObservation(CallTelemetry.SelectorCalls calls, long startTimestamp, Activity? activity)
    {
        _calls = calls;
        _startTimestamp = startTimestamp;
        _activity = activity;
    }

    public void Complete(long responseBytes)
    {
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var counters = _calls.Counters;
        Interlocked.Decrement(ref counters.Active);
        Interlocked.Increment(ref counters.Completed);
        Interlocked.Add(ref counters.ResponseBytes, responseBytes);
        if (CloisterTelemetry.CallDuration.Enabled)
        {
            CloisterTelemetry.CallDuration.Record(elapsed, _calls.SucceededTags);
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
        var counters = _calls.Counters;
        Interlocked.Decrement(ref counters.Active);
        counters.CountFailure(code);
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
