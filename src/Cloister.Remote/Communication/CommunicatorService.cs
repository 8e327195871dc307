using System.Collections.Concurrent;
using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cloister.Remote;

/// <summary>Decides who serves the calls of one communicator call or session.</summary>
internal interface ICallDispatcher
{
    /// <summary>Checks the caller (its session token) and returns what runs its calls.</summary>
    /// <exception cref="RpcException"><see cref="StatusCode.Unauthenticated"/> for a caller without the right token.</exception>
    ICallTarget Accept(ServerCallContext context);
}

/// <summary>Runs one call that arrived on a communicator. Errors are <see cref="EnclaveException"/>s.</summary>
internal interface ICallTarget
{
    ValueTask<ReadOnlyMemory<byte>> DispatchAsync(CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);
}

/// <summary>
/// The serving half of the communicator, the same on both sides: the proxy serves entry calls with it, the host serves
/// host calls. It moves bytes and errors; what a call means is the dispatcher's business.
/// </summary>
internal sealed class CommunicatorService(ICallDispatcher dispatcher) : Communicator.CommunicatorBase, IDisposable
{
    private static readonly TimeSpan LargeReplyLifetime = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<ulong, (ReadOnlyMemory<byte> Payload, long Expires)> _largeReplies = new();
    private long _nextHandle;
    private Timer? _sweeper;

    public override async Task<CallReply> Invoke(CallRequest request, ServerCallContext context)
    {
        ReadOnlyMemory<byte> result;
        try
        {
            result = await dispatcher.Accept(context).DispatchAsync(request, request.Payload.Memory, context.CancellationToken).ConfigureAwait(false);
        }
        catch (EnclaveException ex)
        {
            return new CallReply { Error = ToError(ex) };
        }

        return ReplyWith(result);
    }

    public override Task Session(IAsyncStreamReader<SessionFrame> requestStream, IServerStreamWriter<SessionFrame> responseStream, ServerCallContext context)
    {
        var target = dispatcher.Accept(context);
        var stopping = context.GetHttpContext().RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
        return new ServedSession(this, target, responseStream, context.CancellationToken).RunAsync(requestStream, stopping);
    }

    /// <summary>The reply to a call that returned <paramref name="result"/>: inline, or a handle to fetch it by when it is large.</summary>
    private CallReply ReplyWith(ReadOnlyMemory<byte> result)
    {
        if (result.Length <= CommunicatorLimits.MaxInlineBytes)
        {
            return new CallReply { Payload = UnsafeByteOperations.UnsafeWrap(result) };
        }

        var handle = (ulong)Interlocked.Increment(ref _nextHandle);
        _largeReplies[handle] = (result, Environment.TickCount64 + (long)LargeReplyLifetime.TotalMilliseconds);
        EnsureSweeper();
        return new CallReply { LargeReply = new LargeReply { Handle = handle, Length = (ulong)result.Length } };
    }

    public override async Task FetchReply(FetchReplyRequest request, IServerStreamWriter<Chunk> responseStream, ServerCallContext context)
    {
        dispatcher.Accept(context);
        if (!_largeReplies.TryRemove(request.Handle, out var entry))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"Reply {request.Handle} is not waiting to be fetched (it was fetched already or expired after {LargeReplyLifetime.TotalSeconds} s)."));
        }

        for (var offset = 0; offset < entry.Payload.Length; offset += CommunicatorLimits.ChunkBytes)
        {
            var chunk = entry.Payload.Slice(offset, Math.Min(CommunicatorLimits.ChunkBytes, entry.Payload.Length - offset));
            await responseStream.WriteAsync(new Chunk { Data = UnsafeByteOperations.UnsafeWrap(chunk) }, context.CancellationToken).ConfigureAwait(false);
        }
    }

    public override async Task InvokeStreaming(IAsyncStreamReader<CallFrame> requestStream, IServerStreamWriter<CallFrame> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken).ConfigureAwait(false) || requestStream.Current.Header is not { } header)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "A streamed call must start with a frame that carries its header."));
        }

        var payload = await ChunkedPayload.ReadAsync(requestStream, requestStream.Current, cancellationToken).ConfigureAwait(false);
        ReadOnlyMemory<byte> result;
        try
        {
            result = await dispatcher.Accept(context).DispatchAsync(header, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (EnclaveException ex)
        {
            await responseStream.WriteAsync(new CallFrame { Error = ToError(ex), Last = true }, cancellationToken).ConfigureAwait(false);
            return;
        }

        await ChunkedPayload.WriteAsync(responseStream, header: null, result, cancellationToken).ConfigureAwait(false);
    }

    public static Error ToError(EnclaveException exception) => new()
    {
        Code = (int)exception.StatusCode,
        Message = exception.Message,
        StackTrace = exception.EnclaveStackTrace ?? string.Empty,
    };

    private void EnsureSweeper()
    {
        if (Volatile.Read(ref _sweeper) is null)
        {
            var timer = new Timer(_ => Sweep(), null, Timeout.Infinite, Timeout.Infinite);
            if (Interlocked.CompareExchange(ref _sweeper, timer, null) is null)
            {
                timer.Change(LargeReplyLifetime, LargeReplyLifetime);
            }
            else
            {
                timer.Dispose();
            }
        }
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var (handle, entry) in _largeReplies)
        {
            if (entry.Expires < now)
            {
                _largeReplies.TryRemove(handle, out _);
            }
        }
    }

    public void Dispose() => _sweeper?.Dispose();

    /// <summary>
    /// The serving end of one session: reads calls and cancellations, runs the calls, and writes the replies as they
    /// finish. When the caller ends the stream or the server stops, it reads no more, lets the running calls finish and
    /// write their replies, and returns; when the caller is gone, the running calls are cancelled.
    /// </summary>
    /// <remarks>
    /// A call runs on the thread that read its frame, and the reading goes on in a work item of its own: the call starts
    /// without waiting for a thread, and a slow or blocking call holds up no other call and no cancel frame.
    /// </remarks>
    private sealed class ServedSession(CommunicatorService service, ICallTarget target, IServerStreamWriter<SessionFrame> replies, CancellationToken callerGone)
    {
        private readonly ConcurrentDictionary<ulong, ServedCall> _running = new();
        private readonly CancellationToken _callerGone = callerGone;
        private readonly SessionFrameWriter _writer = new(replies);
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private IAsyncStreamReader<SessionFrame>? _requests;
        private CancellationTokenSource? _reading;

        // The reader's own reference plus one per running call: the session ends when it reaches zero.
        private int _references = 1;

        public async Task RunAsync(IAsyncStreamReader<SessionFrame> requests, CancellationToken stopping)
        {
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(_callerGone, stopping);
            _requests = requests;
            _reading = reading;
            _ = ReadAsync();
            await _drained.Task.ConfigureAwait(false);
        }

        private async Task ReadAsync()
        {
            var requests = _requests!;
            ServedCall? call = null;
            try
            {
                while (call is null && await requests.MoveNext(_reading!.Token).ConfigureAwait(false))
                {
                    var frame = requests.Current;
                    if (frame.Call is { } request)
                    {
                        call = Start(request);
                    }
                    else if (frame.FrameCase == SessionFrame.FrameOneofCase.Cancel && _running.TryGetValue(frame.Cancel, out var running))
                    {
                        running.CancelByCaller();
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or RpcException or InvalidOperationException)
            {
                // The caller went away or the server is stopping: read no more.
            }

            if (call is null)
            {
                Release();
                return;
            }

            // Hand the reading on, and run this call here and now.
            ThreadPool.UnsafeQueueUserWorkItem(static session => _ = session.ReadAsync(), this, preferLocal: true);
            await RunCallAsync(call).ConfigureAwait(false);
        }

        private ServedCall? Start(CallRequest request)
        {
            var call = new ServedCall(this, request);
            if (!_running.TryAdd(request.CallId, call))
            {
                call.Dispose();
                _ = WriteAsync(new CallReply
                {
                    CallId = request.CallId,
                    Error = new Error { Code = (int)EnclaveStatusCode.InvalidArgument, Message = $"Call id {request.CallId} is already running on this session." },
                });
                return null;
            }

            Interlocked.Increment(ref _references);
            return call;
        }

        private async Task RunCallAsync(ServedCall call)
        {
            var request = call.Request;
            CallReply reply;
            try
            {
                var result = await target.DispatchAsync(request, request.Payload.Memory, call.Token).ConfigureAwait(false);
                reply = service.ReplyWith(result);
            }
            catch (EnclaveException ex) when (ex.StatusCode == EnclaveStatusCode.Cancelled && call.Token.IsCancellationRequested)
            {
                // The enclave saw its token fire; say why it fired (the caller's cancel, or the call's timeout).
                reply = new CallReply { Error = call.CancelledError() };
            }
            catch (EnclaveException ex)
            {
                reply = new CallReply { Error = ToError(ex) };
            }
            catch (OperationCanceledException) when (call.Token.IsCancellationRequested)
            {
                reply = new CallReply { Error = call.CancelledError() };
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The dispatchers say errors as EnclaveExceptions; anything else is a fault of this side, and the caller
                // still gets an answer rather than a call that never returns.
                reply = new CallReply { Error = new Error { Code = (int)EnclaveStatusCode.Internal, Message = $"The call failed on the serving side: {ex.GetType().Name}: {ex.Message}" } };
            }

            _running.TryRemove(request.CallId, out _);
            var abandoned = call.CancelledByCaller;
            call.Dispose();
            if (!abandoned)
            {
                reply.CallId = request.CallId;
                await WriteAsync(reply).ConfigureAwait(false);
            }

            Release();
        }

        // A write that fails means the caller is gone: nobody waits for the reply.
        private Task WriteAsync(CallReply reply) => _writer.TryWriteAsync(new SessionFrame { Reply = reply });

        private void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
            {
                _drained.TrySetResult();
            }
        }

        /// <summary>One running call: its request, and its token (the caller's cancel frame, its timeout, the caller gone).</summary>
        private sealed class ServedCall : IDisposable
        {
            private readonly ServedSession _session;
            private readonly CancellationTokenSource _cancellation;
            private volatile bool _cancelledByCaller;

            public ServedCall(ServedSession session, CallRequest request)
            {
                _session = session;
                Request = request;
                _cancellation = CancellationTokenSource.CreateLinkedTokenSource(session._callerGone);
                if (request.TimeoutMicros > 0)
                {
                    _cancellation.CancelAfter(TimeSpan.FromMicroseconds(request.TimeoutMicros));
                }
            }

            public CallRequest Request { get; }

            public CancellationToken Token => _cancellation.Token;

            public bool CancelledByCaller => _cancelledByCaller;

            public void CancelByCaller()
            {
                _cancelledByCaller = true;
                try
                {
                    _cancellation.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // It finished meanwhile.
                }
            }

            public Error CancelledError() => _cancelledByCaller || _session._callerGone.IsCancellationRequested
                ? new Error { Code = (int)EnclaveStatusCode.Cancelled, Message = $"Call '{Request.Selector}' was cancelled by its caller." }
                : new Error { Code = (int)EnclaveStatusCode.DeadlineExceeded, Message = $"Call '{Request.Selector}' passed its deadline." };

            public void Dispose() => _cancellation.Dispose();
        }
    }
}
