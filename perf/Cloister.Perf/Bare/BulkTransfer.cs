using Google.Protobuf;
using Grpc.Core;

namespace Cloister.Perf.Bare;

/// <summary>A payload as 1 MiB <see cref="Chunk"/>s, the chunk size of Cloister's communicator; the same code on both sides.</summary>
internal static class BulkTransfer
{
    public const int ChunkBytes = 1024 * 1024;

    public static async Task ScatterAsync(IAsyncStreamWriter<Chunk> stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < payload.Length; offset += ChunkBytes)
        {
            var chunk = new Chunk { Data = UnsafeByteOperations.UnsafeWrap(payload.Slice(offset, Math.Min(ChunkBytes, payload.Length - offset))) };
            if (offset == 0)
            {
                chunk.TotalLength = (ulong)payload.Length;
            }

            await stream.WriteAsync(chunk, cancellationToken);
        }
    }

    /// <summary>Reads the chunks that follow <paramref name="first"/> into one buffer of the announced length.</summary>
    public static async Task<byte[]> GatherAsync(IAsyncStreamReader<Chunk> stream, Chunk first, CancellationToken cancellationToken)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)first.TotalLength));
        var chunk = first;
        var offset = 0;
        while (true)
        {
            if (chunk.Data.Length > buffer.Length - offset)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"More bytes arrived than the {buffer.Length} announced."));
            }

            chunk.Data.Span.CopyTo(buffer.AsSpan(offset));
            offset += chunk.Data.Length;
            if (offset == buffer.Length || !await stream.MoveNext(cancellationToken))
            {
                break;
            }

            chunk = stream.Current;
        }

        return offset == buffer.Length
            ? buffer
            : throw new RpcException(new Status(StatusCode.DataLoss, $"The stream ended after {offset} of {buffer.Length} bytes."));
    }
}
