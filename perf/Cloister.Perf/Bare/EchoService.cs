using Grpc.Core;

namespace Cloister.Perf.Bare;

/// <summary>The bare service: echoes, with no work of its own, so the floor is gRPC's cost and nothing else.</summary>
internal sealed class EchoService(BareCallback callback) : BareService.BareServiceBase
{
    public override Task<Payload> Echo(Payload request, ServerCallContext context) => Task.FromResult(request);

    public override async Task<Payload> Relay(Payload request, ServerCallContext context) =>
        await callback.Client.EchoAsync(request, cancellationToken: context.CancellationToken);

    public override async Task PingPong(IAsyncStreamReader<Payload> requestStream, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        while (await requestStream.MoveNext(cancellationToken))
        {
            await responseStream.WriteAsync(requestStream.Current, cancellationToken);
        }
    }

    public override async Task RelayPingPong(IAsyncStreamReader<Payload> requestStream, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        using var back = callback.Client.PingPong(cancellationToken: cancellationToken);
        while (await requestStream.MoveNext(cancellationToken))
        {
            await back.RequestStream.WriteAsync(requestStream.Current, cancellationToken);
            if (!await back.ResponseStream.MoveNext(cancellationToken))
            {
                throw new RpcException(new Status(StatusCode.DataLoss, "The callback's ping-pong stream ended."));
            }

            await responseStream.WriteAsync(back.ResponseStream.Current, cancellationToken);
        }

        await back.RequestStream.CompleteAsync();
    }

    public override async Task EchoChunks(IAsyncStreamReader<Chunk> requestStream, IServerStreamWriter<Chunk> responseStream, ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        if (!await requestStream.MoveNext(cancellationToken))
        {
            return;
        }

        // Gather the whole payload first, as Cloister must (an entry point takes one payload), then send it back.
        var buffer = await BulkTransfer.GatherAsync(requestStream, requestStream.Current, cancellationToken);
        await BulkTransfer.ScatterAsync(responseStream, buffer, cancellationToken);
    }

    public override async Task<UploadReply> Upload(IAsyncStreamReader<Chunk> requestStream, ServerCallContext context)
    {
        ulong received = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            received += (ulong)requestStream.Current.Data.Length;
        }

        return new UploadReply { ReceivedBytes = received };
    }
}
