using System.Diagnostics;
using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Cloister.Remote;

/// <summary>
/// The calling half of the communicator: sends one call by size (on the session up to
/// <see cref="CommunicatorLimits.MaxSessionBytes"/>, then as one unary call up to <see cref="CommunicatorLimits.MaxInlineBytes"/>,
/// then streamed in chunks), fetches large replies, and turns an <see cref="Error"/> reply into the
/// <see cref="EnclaveException"/> it stands for. Transport failures stay <see cref="RpcException"/>s so the owner can say
/// what broke.
/// </summary>
internal sealed class CommunicatorCaller(Communicator.CommunicatorClient client, string sessionToken) : IDisposable
{
    private readonly Metadata _headers = new() { { CommunicatorLimits.SessionHeader, sessionToken } };
    private readonly Lock _sessionLock = new();
    private CommunicatorSession? _session;
    private bool _disposed;

    public async ValueTask<ReadOnlyMemory<byte>> CallAsync(CallRequest header, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken)
    {
        if (payload.Length > CommunicatorLimits.MaxSessionBytes)
        {
            // A gRPC call of its own: the trace context travels in the CallRequest, not in HTTP headers too.
            SuppressTransportTracing();
        }

        if (payload.Length > CommunicatorLimits.MaxInlineBytes)
        {
            return await CallStreamingAsync(header, payload, deadline, cancellationToken).ConfigureAwait(false);
        }

        header.Payload = UnsafeByteOperations.UnsafeWrap(payload);
        var reply = payload.Length <= CommunicatorLimits.MaxSessionBytes
            ? await Session().CallAsync(header, deadline, cancellationToken).ConfigureAwait(false)
            : await client.InvokeAsync(header, _headers, deadline, cancellationToken).ConfigureAwait(false);
        return reply.ResultCase switch
        {
            CallReply.ResultOneofCase.Payload => reply.Payload.Memory,
            CallReply.ResultOneofCase.Error => throw FromError(reply.Error),
            CallReply.ResultOneofCase.LargeReply => await FetchAsync(reply.LargeReply, deadline, cancellationToken).ConfigureAwait(false),
            _ => ReadOnlyMemory<byte>.Empty,
        };
    }

    private async Task<ReadOnlyMemory<byte>> FetchAsync(LargeReply large, DateTime? deadline, CancellationToken cancellationToken)
    {
        using var call = client.FetchReply(new FetchReplyRequest { Handle = large.Handle }, _headers, deadline, cancellationToken);
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)large.Length));
        var offset = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            chunk.Data.Span.CopyTo(buffer.AsSpan(offset));
            offset += chunk.Data.Length;
        }

        return offset == buffer.Length
            ? buffer
            : throw new RpcException(new Status(StatusCode.DataLoss, $"A large reply ended after {offset} of its {buffer.Length} bytes."));
    }

    private async Task<ReadOnlyMemory<byte>> CallStreamingAsync(CallRequest header, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken)
    {
        using var call = client.InvokeStreaming(_headers, deadline, cancellationToken);
        await ChunkedPayload.WriteAsync(call.RequestStream, header, payload, cancellationToken).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw new RpcException(new Status(StatusCode.DataLoss, "A streamed call ended without a reply."));
        }

        var first = call.ResponseStream.Current;
        return first.Error is { } error
            ? throw FromError(error)
            : await ChunkedPayload.ReadAsync(call.ResponseStream, first, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens the session now rather than at the first call that fits it (a no-op when one is open).</summary>
    public void EnsureSession()
    {
        lock (_sessionLock)
        {
            if (!_disposed)
            {
                Session();
            }
        }
    }

    /// <summary>The open session, or a new one when there is none yet or the last one broke.</summary>
    private CommunicatorSession Session()
    {
        if (Volatile.Read(ref _session) is { IsBroken: false } session)
        {
            return session;
        }

        lock (_sessionLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_session is { IsBroken: false } current)
            {
                return current;
            }

            _session?.Dispose();
            _session = OpenSession();
            return _session;
        }
    }

    /// <summary>
    /// A new session, outside the async context of the call that happens to open it: the session outlives that call, so
    /// it must not keep its AsyncLocals, nor its activity, which HttpClient would make the parent of the session's
    /// HTTP request (a span as long as the session, in whatever trace the first call was part of).
    /// </summary>
    private CommunicatorSession OpenSession()
    {
        var activity = Activity.Current;
        Activity.Current = null;
        try
        {
            using (ExecutionContext.SuppressFlow())
            {
                return new CommunicatorSession(client, _headers);
            }
        }
        finally
        {
            Activity.Current = activity;
        }
    }

    /// <summary>
    /// Clears <see cref="Activity.Current"/> for the rest of the calling async method (the caller's is restored when it
    /// returns). The communicator carries the trace context in the <see cref="CallRequest"/> (<see cref="WireTraceContext"/>); with a current
    /// activity, HttpClient and ASP.NET Core would also put it in HTTP headers and parse it, and every await of the call
    /// would carry it along: measured at 10-15 µs a unary call, for spans nobody records. Calls on a session open no
    /// HTTP request and need none of this.
    /// </summary>
    private static void SuppressTransportTracing()
    {
        if (Activity.Current is not null)
        {
            Activity.Current = null;
        }
    }

    public void Dispose()
    {
        lock (_sessionLock)
        {
            _disposed = true;
            _session?.Dispose();
            _session = null;
        }
    }

    public static EnclaveException FromError(Error error) =>
        new((EnclaveStatusCode)error.Code, error.Message) { EnclaveStackTrace = string.IsNullOrEmpty(error.StackTrace) ? null : error.StackTrace };
}
