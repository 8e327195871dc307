using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Translator;

namespace Cloister.Perf.Bare;

/// <summary>
/// A plain Kestrel HTTP/2 gRPC server with <see cref="EchoService"/> and the Translator example's
/// <see cref="TranslatorService"/> (figures 10–11), plaintext or TLS with a given certificate: Kestrel's and
/// grpc-dotnet's defaults, no logging. <c>serve-bare</c> runs one in a process of its own; the runner runs one in its
/// own process too, for the bare version of a nested call to call back into.
/// </summary>
internal sealed class BareServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BareCallback _callback;

    private BareServer(WebApplication app, BareCallback callback, BareAddress address)
    {
        _app = app;
        _callback = callback;
        Address = address;
    }

    /// <summary>Where it listens, as bound.</summary>
    public BareAddress Address { get; }

    /// <param name="address">Where to listen.</param>
    /// <param name="callback">Where <c>Relay</c> calls back to (the caller's own bare server); null when unused.</param>
    /// <param name="certificate">The server certificate for TLS; null for plaintext.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<BareServer> StartAsync(BareAddress address, BareAddress? callback, X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Streamed payloads of 64 MiB pass Kestrel's default 30 MB body limit; that is a limit, not a speed setting.
            kestrel.Limits.MaxRequestBodySize = null;
            address.Listen(kestrel, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    o.UseHttps(certificate);
                }
            });
        });
        var relay = new BareCallback(callback);
        builder.Services.AddSingleton(relay);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        app.MapGrpcService<TranslatorService>();
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            relay.Dispose();
            throw;
        }

        var bound = BareAddress.Parse(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new BareServer(app, relay, bound);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _callback.Dispose();
        if (Address.SocketPath is { } socket)
        {
            File.Delete(socket);
        }
    }
}
