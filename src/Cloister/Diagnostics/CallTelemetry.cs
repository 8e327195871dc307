using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cloister;

/// <summary>
/// The calls of one enclave as measured on one side (the host, or the remote enclave's proxy): its tags are built once
/// here, so a measured call only adds its selector. Callers check <see cref="CloisterTelemetry.IsCallObserved"/> first
/// and skip all of this when nobody listens.
/// </summary>
internal sealed class CallTelemetry
{
    private const int MaxCachedSpanNames = 256;
    private static readonly ConcurrentDictionary<string, string> EntrySpanNames = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string> HostCallSpanNames = new(StringComparer.Ordinal);

    private readonly TagList _entryTags;
    private readonly TagList _hostCallTags;
    private readonly CallSide _side;

    public CallTelemetry(string enclaveName, string backend, string measurement, CallSide side)
    {
        EnclaveName = enclaveName;
        Backend = backend;
        MeasurementPrefix = measurement.Length > CloisterTags.MeasurementPrefixLength ? measurement[..CloisterTags.MeasurementPrefixLength] : measurement;
        _side = side;
        var common = new TagList
        {
            { CloisterTags.EnclaveName, enclaveName },
            { CloisterTags.Backend, backend },
            { CloisterTags.Measurement, MeasurementPrefix },
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

    /// <summary>
    /// Starts measuring one call: counts it, and starts its span when the activity source is listened to. The span's parent
    /// is <paramref name="traceParent"/> (a W3C <c>traceparent</c> that came over the wire) when given, else the current activity.
    /// </summary>
    public CallObservation Start(CallDirection direction, string selector, long requestBytes, string? traceParent = null)
    {
        var tags = direction == CallDirection.Entry ? _entryTags : _hostCallTags;
        tags.Add(CloisterTags.Selector, selector);

        Activity? activity = null;
        var source = CloisterTelemetry.Source;
        if (source.HasListeners())
        {
            ActivityContext parent = default;
            if (!string.IsNullOrEmpty(traceParent))
            {
                ActivityContext.TryParse(traceParent, traceState: null, isRemote: true, out parent);
            }

            activity = source.StartActivity(SpanName(direction, selector), Kind(direction), parent);
            if (activity is { IsAllDataRequested: true })
            {
                for (var i = 0; i < tags.Count; i++)
                {
                    activity.SetTag(tags[i].Key, tags[i].Value);
                }

                activity.SetTag("cloister.call.request.size", requestBytes);
            }
        }

        CloisterTelemetry.CallsStarted.Add(1, tags);
        var countedActive = CloisterTelemetry.CallsActive.Enabled;
        if (countedActive)
        {
            CloisterTelemetry.CallsActive.Add(1, tags);
        }

        CloisterTelemetry.RequestSize.Add(requestBytes, tags);
        return new CallObservation(tags, Stopwatch.GetTimestamp(), activity, countedActive);
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
}

/// <summary>One call being measured; <see cref="Complete"/> or <see cref="Fail"/> it exactly once.</summary>
internal struct CallObservation
{
    private readonly TagList _tags;
    private readonly long _startTimestamp;
    private readonly Activity? _activity;
    private readonly bool _countedActive;

    public CallObservation(TagList tags, long startTimestamp, Activity? activity, bool countedActive)
    {
        _tags = tags;
        _startTimestamp = startTimestamp;
        _activity = activity;
        _countedActive = countedActive;
    }

    public readonly void Complete(long responseBytes)
    {
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        if (_countedActive)
        {
            CloisterTelemetry.CallsActive.Add(-1, _tags);
        }

        CloisterTelemetry.CallsCompleted.Add(1, _tags);
        CloisterTelemetry.ResponseSize.Add(responseBytes, _tags);
        if (CloisterTelemetry.CallDuration.Enabled)
        {
            var tags = _tags;
            tags.Add(CloisterTags.StatusCode, "OK");
            CloisterTelemetry.CallDuration.Record(elapsed, tags);
        }

        if (_activity is not null)
        {
            if (_activity.IsAllDataRequested)
            {
                _activity.SetTag("cloister.call.response.size", responseBytes);
            }

            _activity.Dispose();
        }
    }

    public readonly void Fail(Exception exception)
    {
        var elapsed = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var status = CloisterTelemetry.StatusName(exception);
        if (_countedActive)
        {
            CloisterTelemetry.CallsActive.Add(-1, _tags);
        }

        var tags = _tags;
        tags.Add(CloisterTags.StatusCode, status);
        CloisterTelemetry.CallsFailed.Add(1, tags);
        CloisterTelemetry.CallDuration.Record(elapsed, tags);
        if (_activity is not null)
        {
            _activity.SetTag(CloisterTags.StatusCode, status);
            _activity.SetStatus(ActivityStatusCode.Error, exception.Message);
            _activity.Dispose();
        }
    }
}
