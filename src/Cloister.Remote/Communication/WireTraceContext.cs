using System.Buffers.Binary;
using System.Diagnostics;
using Cloister.Remote.Protocol;

namespace Cloister.Remote;

/// <summary>
/// A W3C trace context as a <see cref="CallRequest"/> carries it: the trace id in two halves, the parent span id and the
/// flags, as numbers. Nothing is formatted or parsed per call; the ids become <see cref="ActivityTraceId"/> and
/// <see cref="ActivitySpanId"/> (hex strings inside) only where a span is really started.
/// </summary>
internal readonly record struct WireTraceContext(ulong TraceIdHigh, ulong TraceIdLow, ulong SpanId, uint Flags)
{
    /// <summary>No trace context: the caller had no W3C span.</summary>
    public bool IsEmpty => SpanId == 0;

    /// <summary>The context of <paramref name="activity"/> (its own span as the parent), or empty when it is null or not W3C.</summary>
    public static WireTraceContext From(Activity? activity)
    {
        if (activity is not { IdFormat: ActivityIdFormat.W3C })
        {
            return default;
        }

        Span<byte> traceId = stackalloc byte[16];
        Span<byte> spanId = stackalloc byte[8];
        activity.TraceId.CopyTo(traceId);
        activity.SpanId.CopyTo(spanId);
        return new WireTraceContext(
            BinaryPrimitives.ReadUInt64BigEndian(traceId),
            BinaryPrimitives.ReadUInt64BigEndian(traceId[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(spanId),
            (uint)activity.ActivityTraceFlags);
    }

    /// <summary>The context a call arrived with.</summary>
    public static WireTraceContext Of(CallRequest request) => new(request.TraceIdHigh, request.TraceIdLow, request.ParentSpanId, request.TraceFlags);

    /// <summary>The parent of a span started for <paramref name="request"/>: its caller's span, when anybody records spans here.</summary>
    public static ActivityContext ParentOf(CallRequest request) =>
        CloisterTelemetry.Source.HasListeners() ? Of(request).ToActivityContext() : default;

    /// <summary>Puts this context on <paramref name="request"/>.</summary>
    public void WriteTo(CallRequest request)
    {
        request.TraceIdHigh = TraceIdHigh;
        request.TraceIdLow = TraceIdLow;
        request.ParentSpanId = SpanId;
        request.TraceFlags = Flags;
    }

    /// <summary>The remote parent for a span started here; default (the current activity is the parent) when empty.</summary>
    public ActivityContext ToActivityContext()
    {
        if (IsEmpty)
        {
            return default;
        }

        Span<byte> traceId = stackalloc byte[16];
        Span<byte> spanId = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(traceId, TraceIdHigh);
        BinaryPrimitives.WriteUInt64BigEndian(traceId[8..], TraceIdLow);
        BinaryPrimitives.WriteUInt64BigEndian(spanId, SpanId);
        return new ActivityContext(ActivityTraceId.CreateFromBytes(traceId), ActivitySpanId.CreateFromBytes(spanId), (ActivityTraceFlags)Flags, traceState: null, isRemote: true);
    }
}
