using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cloister.Grpc;

/// <summary>
/// A <see cref="TrustedApplication"/> that is a gRPC server: ASP.NET Core gRPC on Kestrel, running inside the enclave
/// and listening on the <c>server_address</c> extension of its <see cref="EnclaveConfig"/>. Subclass it, add your
/// services in <see cref="ConfigureServices"/> and map them in <see cref="MapEndpoints"/> — the usual
/// <c>AddGrpc</c> / <c>MapGrpcService&lt;T&gt;</c>, with interceptors, reflection and health as you like.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="InitializeAsync"/> builds and starts the server, once. A missing or unparsable address fails the load
/// with <see cref="EnclaveStatusCode.InvalidArgument"/>; an address that cannot be bound with
/// <see cref="EnclaveStatusCode.FailedPrecondition"/>; both name the address and the reason. With the <c>server_tls</c>
/// extension (<see cref="ServerTls"/>) the server serves TLS, or mutual TLS when it names a client CA; certificates that
/// cannot be loaded fail the load with <see cref="EnclaveStatusCode.InvalidArgument"/>.</item>
/// <item><see cref="RunAsync"/> returns the port really bound in the <c>actual_server_port</c> extension; call it any number of times.</item>
/// <item><see cref="FinalizeAsync"/> stops accepting calls, gives calls in flight <see cref="ShutdownGracePeriod"/> (500 ms)
/// to finish, then cancels the rest.</item>
/// </list>
/// With the sim backend the server listens in the host process; with the remote backend, in the proxy's process —
/// on the proxy's machine.
/// </remarks>
public abstract partial class GrpcServerEnclave : TrustedApplication
{
    private WebApplication? _app;
    private LoadedServerTls? _tls;
    private int _port;
    private int _started;

    /// <summary>How long <see cref="FinalizeAsync"/> lets calls in flight finish before cancelling them. Default 500 ms.</summary>
    protected virtual TimeSpan ShutdownGracePeriod => TimeSpan.FromMilliseconds(500);

    /// <inheritdoc />
    protected internal override ExtensionRegistry? MessageExtensions => [GrpcServerExtensions.ServerAddress, GrpcServerExtensions.ServerTls];

    /// <summary>The address the server listens on, once started.</summary>
    public string? ServerAddress { get; private set; }

    /// <summary>Adds the application's services, e.g. <c>services.AddGrpc()</c> and what the gRPC services need.</summary>
    protected abstract void ConfigureServices(IServiceCollection services);

    /// <summary>Maps the application's endpoints, e.g. <c>endpoints.MapGrpcService&lt;TranslatorService&gt;()</c>.</summary>
    protected abstract void MapEndpoints(IEndpointRouteBuilder endpoints);

    /// <summary>
    /// Adjusts Kestrel after the listen address (and, with <c>server_tls</c>, HTTPS) is set: limits, or HTTPS of your own on
    /// <paramref name="listen"/> when the certificate does not come from the host.
    /// </summary>
    protected virtual void ConfigureKestrel(KestrelServerOptions kestrel, ListenOptions listen)
    {
    }

    /// <summary>Reads <c>server_address</c>, then builds and starts the server.</summary>
    public override async ValueTask InitializeAsync(EnclaveConfig config, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, "The enclave's gRPC server is already started; it starts once, in InitializeAsync.");
        }

        if (!config.HasExtensionValue(GrpcServerExtensions.ServerAddress) || string.IsNullOrWhiteSpace(config.GetExtensionValue(GrpcServerExtensions.ServerAddress)))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                "The enclave's gRPC server needs an address: set the server_address extension of EnclaveConfig (e.g. \"[::1]:0\", \"127.0.0.1:50051\" or \"unix:/tmp/app.sock\").");
        }

        var address = config.GetExtensionValue(GrpcServerExtensions.ServerAddress);
        var listen = ListenAddress.Parse(address);
        var tls = config.HasExtensionValue(GrpcServerExtensions.ServerTls) ? config.GetExtensionValue(GrpcServerExtensions.ServerTls).Load() : null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(LoggerFactory));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);

        // Not even at Warning: with a logger for it, ASP.NET Core's hosting diagnostics start an Activity and a log scope
        // for every request, whatever the level (Cloister's own servers turn it off the same way).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownGracePeriod);
        builder.WebHost.ConfigureKestrel(kestrel => listen.Listen(kestrel, o =>
        {
            o.Protocols = HttpProtocols.Http2;
            if (tls is not null)
            {
                UseTls(o, tls);
            }

            ConfigureKestrel(kestrel, o);
        }));
        ConfigureServices(builder.Services);
        var app = builder.Build();
        MapEndpoints(app);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            tls?.Dispose();
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"The enclave's gRPC server cannot listen on '{address}': {ex.Message}", ex);
        }

        _app = app;
        _tls = tls;
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        ServerAddress = bound;
        _port = Uri.TryCreate(bound, UriKind.Absolute, out var uri) && !bound.Contains("unix:", StringComparison.Ordinal) ? uri.Port : 0;
        await Host.WriteConsoleAsync($"[{Context.Name}] gRPC server listening on {bound}{Environment.NewLine}", cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reports the bound port in <c>actual_server_port</c>. Override to add behaviour; call the base to keep the port.</summary>
    public override ValueTask<EnclaveOutput> RunAsync(EnclaveInput input, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new EnclaveOutput().WithExtension(GrpcServerExtensions.ActualServerPort, _port));

    /// <summary>Stops the server: no new calls, <see cref="ShutdownGracePeriod"/> for calls in flight, then cancellation.</summary>
    public override async ValueTask FinalizeAsync(EnclaveFinal final, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _app, null) is not { } app)
        {
            return;
        }

        LogShuttingDown(LoggerFactory.CreateLogger<GrpcServerEnclave>(), Context.Name, ShutdownGracePeriod.TotalMilliseconds);
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        grace.CancelAfter(ShutdownGracePeriod);
        try
        {
            await app.StopAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (grace.IsCancellationRequested)
        {
            // Calls still running after the grace period were cancelled; that is the contract.
        }

        await app.DisposeAsync().ConfigureAwait(false);
        Interlocked.Exchange(ref _tls, null)?.Dispose();
    }

    /// <summary>HTTPS with the host's certificate; for mutual TLS, client certificates must chain to the given CA.</summary>
    private static void UseTls(ListenOptions listen, LoadedServerTls tls) => listen.UseHttps(https =>
    {
        https.ServerCertificate = tls.Certificate;
        if (tls.ClientAuthorities is not null)
        {
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (certificate, _, _) => tls.IsAllowedClient(certificate);
        }
    });

    [LoggerMessage(1, LogLevel.Information, "Enclave '{Name}' is shutting down its gRPC server ({GraceMilliseconds} ms grace for calls in flight)")]
    private static partial void LogShuttingDown(ILogger logger, string name, double graceMilliseconds);

    /// <summary>ASP.NET Core's own logs go to the host through the enclave's forwarding loggers.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }

    /// <summary>The enclave server's listen address: host:port, [IPv6]:port or unix:/path.</summary>
    private sealed record ListenAddress(IPAddress? Ip, string? Host, int Port, string? SocketPath)
    {
        public static ListenAddress Parse(string address)
        {
            var text = address.Trim();
            if (text.StartsWith("unix:", StringComparison.Ordinal))
            {
                var path = text[5..];
                return Path.IsPathRooted(path) ? new ListenAddress(null, null, 0, path) : throw Invalid(address, "a Unix socket address needs an absolute path, e.g. unix:/tmp/app.sock");
            }

            var colon = text.LastIndexOf(':');
            if (colon <= 0)
            {
                throw Invalid(address, "expected host:port, [IPv6]:port or unix:/path");
            }

            var host = text[..colon].Trim('[', ']');
            if (!int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
            {
                throw Invalid(address, "the port must be a number from 0 to 65535");
            }

            if (IPAddress.TryParse(host, out var ip))
            {
                return new ListenAddress(ip, null, port, null);
            }

            return host is "localhost" or "*" or "0.0.0.0"
                ? new ListenAddress(null, host, port, null)
                : throw Invalid(address, $"'{host}' is not an IP address; use an IP address, localhost or *");
        }

        public void Listen(KestrelServerOptions kestrel, Action<ListenOptions> configure)
        {
            if (SocketPath is not null)
            {
                kestrel.ListenUnixSocket(SocketPath, configure);
            }
            else if (Ip is not null)
            {
                kestrel.Listen(Ip, Port, configure);
            }
            else if (Host == "localhost")
            {
                kestrel.ListenLocalhost(Port, configure);
            }
            else
            {
                kestrel.ListenAnyIP(Port, configure);
            }
        }

        private static EnclaveException Invalid(string address, string reason) =>
            new(EnclaveStatusCode.InvalidArgument, $"server_address '{address}' is not a valid address: {reason}.");
    }
}
