using System.Collections.Concurrent;
using Cloister.Remote.Protocol;
using Grpc.Core;

namespace Cloister.Remote;

/// <summary>
/// The calling end of one communicator <c>Session</c>: many calls on one long-lived duplex stream, told apart by
/// <c>call_id</c>. A call is one <see cref="SessionFrame"/> out and one back, on a stream that is already open, where a
/// unary call would open an HTTP/2 stream with headers and trailers each time: that is most of a small call's cost.
/// </summary>
/// <remarks>
/// Failures look like the unary call's would, so the owner translates them the same way: a transport failure is an
/// <see cref="RpcException"/> with the stream's status, a cancelled call <see cref="StatusCode.Cancelled"/>, a call past its
/// deadline <see cref="StatusCode.DeadlineExceeded"/>. When the stream breaks every pending call fails with its status, and
/// the session stays broken: <see cref="CommunicatorCaller"/> opens a new one for the next call.
/// </remarks>
internal sealed class CommunicatorSession : IDisposable
{
    // The statuses grpc-dotnet gives a cancelled call and one past its deadline, so that owners translate them alike.
    private static readonly Status CancelledStatus = new(StatusCode.Cancelled, "Call canceled by the client.");
    private static readonly Status DeadlineStatus = new(StatusCode.DeadlineExceeded, "Deadline Exceeded");

    private readonly AsyncDuplexStreamingCall<SessionFrame, SessionFrame> _call;
    private readonly SessionFrameWriter _writer;
    private readonly ConcurrentDictionary<ulong, PendingCall> _pending = new();
    private RpcException? _failure;

    public CommunicatorSession(Communicator.CommunicatorClient client, Metadata headers)
    {
        _call = client.Session(headers);
        _writer = new SessionFrameWriter(_call.RequestStream);
        _ = ReadRepliesAsync();
    }

    /// <summary>True once the stream has ended or failed: no call can be made on it any more.</summary>
    public bool IsBroken => Volatile.Read(ref _failure) is not null;

    /// <summary>Sends one call and waits for its reply.</summary>
    /// <param name="request">The call; its <c>call_id</c> must be unique on this session. Its payload is read before this returns.</param>
    /// <param name="deadline">When the call must have finished (UTC), or null.</param>
    /// <param name="cancellationToken">Cancels the call here and, with a cancel frame, on the serving side.</param>
    public async Task<CallReply> CallAsync(CallRequest request, DateTime? deadline, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(CancelledStatus);
        }

        TimeSpan? timeout = null;
        if (deadline is { } due)
        {
            timeout = due.ToUniversalTime() - DateTime.UtcNow;
            if (timeout <= TimeSpan.Zero)
            {
                throw new RpcException(DeadlineStatus);
            }

            request.TimeoutMicros = (ulong)(timeout.Value.Ticks / TimeSpan.TicksPerMicrosecond);
        }

        var pending = new PendingCall(this, request.CallId);
        if (!_pending.TryAdd(request.CallId, pending))
        {
            throw new InvalidOperationException($"Call id {request.CallId} is already pending on this session.");
        }

        // The reader fails every pending call after it marks the session broken (a full fence each side): a call added
        // after that sweep sees the mark here instead of waiting for a reply that cannot come.
        if (Volatile.Read(ref _failure) is { } failure)
        {
            _pending.TryRemove(request.CallId, out _);
            throw new RpcException(failure.Status);
        }

        using var cancellation = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => ((PendingCall)state!).Abandon(CancelledStatus), pending)
            : default;
        using var timer = timeout is { } after ? new Timer(static state => ((PendingCall)state!).Abandon(DeadlineStatus), pending, after, Timeout.InfiniteTimeSpan) : null;
        await WriteAsync(new SessionFrame { Call = request }, pending).ConfigureAwait(false);
        return await pending.Task.ConfigureAwait(false);
    }

    private async Task WriteAsync(SessionFrame frame, PendingCall? pending)
    {
        if (await _writer.TryWriteAsync(frame).ConfigureAwait(false) is { } ex)
        {
            // The stream is gone: the reader fails the pending calls with its status; this one may not be pending yet.
            var status = Volatile.Read(ref _failure)?.Status ?? (ex is RpcException rpc ? rpc.Status : new Status(StatusCode.Unavailable, $"The communicator session broke: {ex.Message}", ex));
            pending?.Fail(new RpcException(status));
        }
    }

    /// <summary>
    /// Reads the next reply and completes its call on this thread, after handing the reading on to a work item of its
    /// own: the caller's continuation runs without waiting for a thread, and a caller that blocks in it holds up no
    /// other reply.
    /// </summary>
    private async Task ReadRepliesAsync()
    {
        var replies = _call.ResponseStream;
        Status failure;
        try
        {
            while (await replies.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                if (replies.Current.Reply is { } reply && _pending.TryRemove(reply.CallId, out var pending))
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static session => _ = session.ReadRepliesAsync(), this, preferLocal: true);
                    pending.Complete(reply);
                    return;
                }
            }

            failure = new Status(StatusCode.Unavailable, "The other side closed the communicator session.");
        }
        catch (RpcException ex)
        {
            failure = ex.Status;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            failure = new Status(StatusCode.Unavailable, $"The communicator session broke: {ex.Message}", ex);
        }

        Interlocked.Exchange(ref _failure, new RpcException(failure));
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var pending))
            {
                pending.Fail(new RpcException(failure));
            }
        }
    }

    /// <summary>Ends the stream: pending calls fail, the serving side cancels what it still runs.</summary>
    public void Dispose() => _call.Dispose();

    /// <summary>
    /// A call waiting for its reply. A reply resumes the caller on the reader's thread (see <see cref="ReadRepliesAsync"/>);
    /// a failure or a cancellation resumes it on the thread pool, never inside the code that cancelled its token.
    /// </summary>
    private sealed class PendingCall(CommunicatorSession session, ulong callId) : TaskCompletionSource<CallReply>
    {
        public void Complete(CallReply reply) => TrySetResult(reply);

        public void Fail(RpcException exception)
        {
            session._pending.TryRemove(callId, out _);
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Call.TrySetException(state.Exception), (Call: this, Exception: exception), preferLocal: false);
        }

        /// <summary>The caller stops waiting (cancelled, or past its deadline) and tells the serving side, best effort.</summary>
        public void Abandon(Status status)
        {
            if (session._pending.TryRemove(callId, out _))
            {
                Fail(new RpcException(status));
                if (!session.IsBroken)
                {
                    _ = session.WriteAsync(new SessionFrame { Cancel = callId }, pending: null);
                }
            }
        }
    }
}
