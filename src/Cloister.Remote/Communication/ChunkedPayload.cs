using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Cloister.Remote;

/// <summary>Splits a payload into <see cref="CallFrame"/>s and puts it back together.</summary>
internal static class ChunkedPayload
{
    public static async Task WriteAsync(IAsyncStreamWriter<CallFrame> stream, CallRequest? header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var offset = 0;
        do
        {
            var length = Math.Min(CommunicatorLimits.ChunkBytes, payload.Length - offset);
            var frame = new CallFrame
            {
                Chunk = UnsafeByteOperations.UnsafeWrap(payload.Slice(offset, length)),
                Last = offset + length == payload.Length,
            };
            if (offset == 0)
            {
                frame.Header = header;
                frame.Length = (ulong)payload.Length;
            }

            await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
            offset += length;
        }
        while (offset < payload.Length);
    }

    /// <summary>Reads a whole payload whose first frame is <paramref name="first"/>.</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadAsync(IAsyncStreamReader<CallFrame> stream, CallFrame first, CancellationToken cancellationToken)
    {
        if (first.Length > (ulong)Array.MaxLength)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"A payload of {first.Length} bytes is larger than the largest .NET array ({Array.MaxLength} bytes)."));
        }

        if (first.Last)
        {
            return first.Chunk.Memory;
        }

        var buffer = GC.AllocateUninitializedArray<byte>((int)first.Length);
        var offset = 0;
        var frame = first;
        while (true)
        {
            if (frame.Chunk.Length > buffer.Length - offset)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"A streamed payload sent more bytes than the {buffer.Length} it announced."));
            }

            frame.Chunk.Span.CopyTo(buffer.AsSpan(offset));
            offset += frame.Chunk.Length;
            if (frame.Last)
            {
                break;
            }

            if (!await stream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"A streamed payload ended after {offset} of its {buffer.Length} bytes."));
            }

            frame = stream.Current;
        }

        return offset == buffer.Length
            ? buffer
            : throw new RpcException(new Status(StatusCode.InvalidArgument, $"A streamed payload ended after {offset} of its {buffer.Length} bytes."));
    }
}
