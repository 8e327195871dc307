using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Cloister.Remote;

/// <summary>
/// A process's operator endpoint (<c>--metrics-port</c>, <c>--metrics-address</c>): Prometheus text at <c>/metrics</c>,
/// written by OpenTelemetry's Prometheus exporter from the <see cref="CloisterDiagnostics.MeterName"/> meter, and the
/// grpc.health.v1 service over gRPC-Web. Plaintext HTTP/1.1, which is what Prometheus scrapes; it binds loopback unless
/// told otherwise.
/// </summary>
internal sealed partial class MetricsEndpoint : IAsyncDisposable
{
    /// <summary>The default <c>--metrics-address</c>: loopback, so nothing is exposed unless asked.</summary>
    public const string DefaultAddress = "127.0.0.1";

    /// <summary>The path the Prometheus text is served at.</summary>
    public const string MetricsPath = "/metrics";

    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string TlsHandshakeInstrument = "kestrel.tls_handshake.duration";

    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>Where it listens, as bound (port 0 resolved), e.g. <c>http://127.0.0.1:9464/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The Prometheus scrape URL, e.g. <c>http://127.0.0.1:9464/metrics</c>.</summary>
    public Uri MetricsUrl => new(BaseAddress, MetricsPath);

    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.InvalidArgument"/> for an address that is not an IP
    /// address or localhost; <see cref="EnclaveStatusCode.FailedPrecondition"/> when the port cannot be bound.</exception>
    /// <param name="address">The address to bind (<c>--metrics-address</c>); null or blank for <see cref="DefaultAddress"/>.</param>
    /// <param name="port">The port (<c>--metrics-port</c>); 0 lets the system pick one.</param>
    /// <param name="health">The health this process reports over gRPC-Web on the same port.</param>
    /// <param name="loggerFactory">For the warning about a non-loopback address.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <param name="map">Maps more endpoints on the same port (a provision server's scrape targets).</param>
    public static async Task<MetricsEndpoint> StartAsync(string? address, int port, ServingHealth health, ILoggerFactory loggerFactory, CancellationToken cancellationToken, Action<WebApplication>? map = null)
    {
        var host = BindHost(address, port);
        var logger = loggerFactory.CreateLogger<MetricsEndpoint>();
        if (!IsLoopback(host))
        {
            LogNotLoopback(logger, host, port);
        }

        var listen = EndpointAddress.Tcp(host, port);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => listen.Listen(kestrel, o => o.Protocols = HttpProtocols.Http1));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddCloisterInstrumentation()
            // Kestrel's TLS handshakes, failed ones tagged error.type: a caller refused at the handshake (no client
            // certificate, an untrusted one) never reaches Cloister's code, so this is where such refusals show. The
            // process's other Kestrel instruments (connections, requests) are left out.
            .AddMeter(KestrelMeter)
            .AddView(instrument => instrument.Meter.Name == KestrelMeter && instrument.Name != TlsHandshakeInstrument ? MetricStreamConfiguration.Drop : null)
            // No response cache: a scrape right after a call sees it (the default caches 300 ms).
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        builder.Services.AddGrpc();
        health.AddTo(builder.Services);
        var app = builder.Build();
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        ServingHealth.Map(app);
        map?.Invoke(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"Cannot serve metrics on {listen}: {ex.Message}. Choose another --metrics-port (0 lets the system pick one).", ex);
        }

        var bound = EndpointAddress.FromServerAddress(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new MetricsEndpoint(app, bound.ChannelUri(tls: false));
    }

    /// <summary>
    /// The host an endpoint for <paramref name="address"/> and <paramref name="port"/> binds: <see cref="DefaultAddress"/>
    /// for a blank one, and for <c>localhost</c> with port 0 (Kestrel binds "localhost" as two addresses, 127.0.0.1 and
    /// ::1, and so cannot let the system pick the port).
    /// </summary>
    public static string BindHost(string? address, int port)
    {
        var host = string.IsNullOrWhiteSpace(address) ? DefaultAddress : address.Trim().Trim('[', ']');
        return port == 0 && string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ? DefaultAddress : host;
    }

    /// <summary>Whether <paramref name="host"/> (as <see cref="BindHost"/> gives it) binds every address: <c>0.0.0.0</c>, <c>::</c>, <c>*</c>, <c>+</c>.</summary>
    public static bool IsWildcard(string host) => host is "*" or "+" || EndpointAddress.IsUnspecifiedHost(host);

    private static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(400, LogLevel.Warning, "Serving metrics and health on {Address}:{Port}, which is not a loopback address: the endpoint is plaintext and unauthenticated; anyone who can reach it can read the figures")]
    private static partial void LogNotLoopback(ILogger logger, string address, int port);
}
