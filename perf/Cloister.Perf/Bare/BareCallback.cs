using Grpc.Net.Client;

namespace Cloister.Perf.Bare;

/// <summary>The channel <c>Relay</c> calls back on, opened on first use (the address it goes to is known at start).</summary>
internal sealed class BareCallback(BareAddress? address) : IDisposable
{
    private readonly Lazy<(GrpcChannel Channel, BareService.BareServiceClient Client)>? _channel = address is null
        ? null
        : new(() =>
        {
            var channel = address.CreateChannel();
            return (channel, new BareService.BareServiceClient(channel));
        });

    public BareService.BareServiceClient Client => _channel?.Value.Client
        ?? throw new InvalidOperationException("This bare server was started without --callback-address, so it cannot relay.");

    public void Dispose()
    {
        if (_channel is { IsValueCreated: true } channel)
        {
            channel.Value.Channel.Dispose();
        }
    }
}
