using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Cloister.Perf.Bare;

/// <summary>The floor's client side: one channel to a <see cref="BareServerProcess"/> and the calls the figures compare against.</summary>
internal sealed class BareFloor : IAsyncDisposable
{
    private readonly GrpcChannel _channel;
    private readonly BareService.BareServiceClient _client;
    private AsyncDuplexStreamingCall<Payload, Payload>? _pingPong;
    private AsyncDuplexStreamingCall<Payload, Payload>? _relayPingPong;

    /// <param name="address">The server.</param>
    /// <param name="trustedCa">For a TLS server: the CA its certificate chains to; null for plaintext.</param>
    public BareFloor(BareAddress address, X509Certificate2? trustedCa = null)
    {
        _channel = address.CreateChannel(trustedCa);
        _client = new BareService.BareServiceClient(_channel);
    }

    /// <summary>One unary Echo.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> EchoAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var reply = await _client.EchoAsync(new Payload { Data = UnsafeByteOperations.UnsafeWrap(payload) }, cancellationToken: cancellationToken);
        return reply.Data.Memory;
    }

    /// <summary>One unary Relay: the server calls back to this process's <see cref="BareServer"/> before it replies.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> RelayAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var reply = await _client.RelayAsync(new Payload { Data = UnsafeByteOperations.UnsafeWrap(payload) }, cancellationToken: cancellationToken);
        return reply.Data.Memory;
    }

    /// <summary>One message out and its echo back on a stream held open (opened by the first call); one caller at a time.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> PingPongAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // The stream lives across calls, so it gets no per-call token; DisposeAsync ends it.
        var call = _pingPong ??= _client.PingPong(cancellationToken: CancellationToken.None);
        return await RoundTripAsync(call, payload, cancellationToken);
    }

    /// <summary>
    /// One message out on a stream held open, relayed by the server over its own ping-pong stream to this process's
    /// <see cref="BareServer"/>, and its echo back; one caller at a time.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> RelayPingPongAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var call = _relayPingPong ??= _client.RelayPingPong(cancellationToken: CancellationToken.None);
        return await RoundTripAsync(call, payload, cancellationToken);
    }

    private static async ValueTask<ReadOnlyMemory<byte>> RoundTripAsync(AsyncDuplexStreamingCall<Payload, Payload> call, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await call.RequestStream.WriteAsync(new Payload { Data = UnsafeByteOperations.UnsafeWrap(payload) }, cancellationToken);
        return await call.ResponseStream.MoveNext(cancellationToken)
            ? call.ResponseStream.Current.Data.Memory
            : throw new RpcException(new Status(StatusCode.DataLoss, "The ping-pong stream ended."));
    }

    /// <summary>A whole payload there and back as 1 MiB chunks, gathered into one buffer at each end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> EchoChunksAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        using var call = _client.EchoChunks(cancellationToken: cancellationToken);
        await BulkTransfer.ScatterAsync(call.RequestStream, payload, cancellationToken);
        await call.RequestStream.CompleteAsync();
        return await call.ResponseStream.MoveNext(cancellationToken)
            ? await BulkTransfer.GatherAsync(call.ResponseStream, call.ResponseStream.Current, cancellationToken)
            : throw new RpcException(new Status(StatusCode.DataLoss, "The echo stream ended without a reply."));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var call in new[] { _pingPong, _relayPingPong })
        {
            if (call is null)
            {
                continue;
            }

            try
            {
                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The server is gone already; nothing to close.
            }

            call.Dispose();
        }

        _channel.Dispose();
    }
}
