using System.Collections.Concurrent;
using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Cloister.Remote;

/// <summary>Runs one call that arrived on a communicator. Errors are <see cref="EnclaveException"/>s.</summary>
internal interface ICallDispatcher
{
    ValueTask<ReadOnlyMemory<byte>> DispatchAsync(ServerCallContext context, CallRequest header, ReadOnlyMemory<byte> payload);
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
            result = await dispatcher.DispatchAsync(context, request, request.Payload.Memory).ConfigureAwait(false);
        }
        catch (EnclaveException ex)
        {
            return new CallReply { Error = ToError(ex) };
        }

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
            result = await dispatcher.DispatchAsync(context, header, payload).ConfigureAwait(false);
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
}
