using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>The one way Cloister's gRPC servers (host communicator, proxy, provision server) are set up.</summary>
internal static class CommunicatorServers
{
    /// <summary>A Kestrel gRPC server builder: HTTP/2 on <paramref name="listen"/> with <paramref name="security"/>, Cloister's message limits, quiet logging.</summary>
    public static WebApplicationBuilder CreateBuilder(EndpointAddress listen, ChannelSecurity security, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        ConfigureLogging(builder.Logging, loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            listen.Listen(kestrel, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                SecureTransport.ConfigureListener(o, security);
            });
        });
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = CommunicatorLimits.MaxMessageBytes;
            o.MaxSendMessageSize = CommunicatorLimits.MaxMessageBytes;
        });
        return builder;
    }

    /// <summary>
    /// ASP.NET Core's logs go to <paramref name="loggerFactory"/>, but not its per-request ones: at Information it writes
    /// four lines per call and opens a scope and an activity for each, which measured 40–55 µs a call (and a proxy's
    /// lines are read again by its host). Nor gRPC's information about calls whose peer went away: a communicator session
    /// ends that way whenever a proxy exits, and Cloister reports what that means for the calls itself. Warnings and
    /// errors still come through.
    /// </summary>
    public static void ConfigureLogging(ILoggingBuilder logging, ILoggerFactory loggerFactory)
    {
        logging.ClearProviders();
        logging.AddProvider(new ForwardingLoggerProvider(loggerFactory));
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        logging.AddFilter("Grpc.AspNetCore.Server", LogLevel.Warning);
    }

    /// <summary>The address a started server really listens on (port 0 resolved).</summary>
    public static EndpointAddress BoundAddress(WebApplication app) =>
        EndpointAddress.FromServerAddress(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private sealed class ForwardingLoggerProvider(ILoggerFactory factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => factory.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
