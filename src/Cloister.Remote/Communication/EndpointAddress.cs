using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Cloister.Remote;

/// <summary>
/// An address a communicator listens on or connects to: <c>host:port</c> (IPv4, host name, or <c>[IPv6]:port</c>)
/// or <c>unix:/path/to.sock</c> for a Unix domain socket on this machine. Port 0 lets the system choose.
/// </summary>
internal sealed record EndpointAddress
{
    private EndpointAddress(string? host, int port, string? socketPath)
    {
        Host = host;
        Port = port;
        SocketPath = socketPath;
    }

    public string? Host { get; }

    public int Port { get; }

    public string? SocketPath { get; }

    public bool IsUnixSocket => SocketPath is not null;

    /// <summary>A TCP address whose host is the unspecified address, <c>0.0.0.0</c> or <c>[::]</c>: every interface, no one host.</summary>
    public bool IsUnspecified => Host is not null && IsUnspecifiedHost(Host);

    /// <summary>Whether <paramref name="host"/> is <c>0.0.0.0</c> or <c>::</c> (brackets or not).</summary>
    public static bool IsUnspecifiedHost(string host) =>
        System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && (ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any));

    public static EndpointAddress Unix(string path) => new(null, 0, path);

    public static EndpointAddress Tcp(string host, int port) => new(host, port, null);

    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.InvalidArgument"/> naming the address and the expected forms.</exception>
    public static EndpointAddress Parse(string address, string what)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(address);
        var text = address.Trim();
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            return path.Length > 0 && Path.IsPathRooted(path)
                ? Unix(path)
                : throw Invalid(address, what, "a Unix socket address needs an absolute path, e.g. unix:/tmp/cloister.sock");
        }

        if (text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
            {
                throw Invalid(address, what, "it is not a valid URI");
            }

            return uri.Host == "unix" || uri.AbsolutePath.Length > 1 && uri.Host.Length == 0
                ? Unix(uri.AbsolutePath)
                : Tcp(uri.Host.Trim('[', ']'), uri.Port);
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            throw Invalid(address, what, "expected host:port, [IPv6]:port or unix:/path");
        }

        var host = text[..colon];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']'))
            {
                throw Invalid(address, what, "an IPv6 address goes in brackets, e.g. [::1]:0");
            }

            host = host[1..^1];
        }
        else if (host.Contains(':'))
        {
            throw Invalid(address, what, "an IPv6 address goes in brackets, e.g. [::1]:0");
        }

        if (!int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw Invalid(address, what, "the port must be a number from 0 to 65535");
        }

        return Tcp(host, port);
    }

    /// <summary>Parses what Kestrel reports it bound (<c>http://127.0.0.1:5000</c>, <c>http://[::1]:5000</c>, <c>http://unix:/p.sock</c>).</summary>
    public static EndpointAddress FromServerAddress(string serverAddress) =>
        serverAddress.StartsWith("http://unix:", StringComparison.OrdinalIgnoreCase)
            ? Unix(serverAddress["http://unix:".Length..])
            : Parse(serverAddress, "server address");

    public void Listen(KestrelServerOptions kestrel, Action<ListenOptions> configure)
    {
        if (SocketPath is not null)
        {
            kestrel.ListenUnixSocket(SocketPath, configure);
        }
        else if (IPAddress.TryParse(Host, out var ip))
        {
            kestrel.Listen(ip, Port, configure);
        }
        else if (string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(Port, configure);
        }
        else if (Host is "*" or "+")
        {
            kestrel.ListenAnyIP(Port, configure);
        }
        else
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"Cannot listen on '{this}': give an IP address, localhost or a unix: path to listen on, not a host name.");
        }
    }

    /// <summary>The URI a gRPC channel uses; for a Unix socket the host part is a placeholder.</summary>
    public Uri ChannelUri(bool tls) => SocketPath is not null
        ? new Uri(tls ? "https://localhost" : "http://localhost")
        : new Uri($"{(tls ? "https" : "http")}://{(Host!.Contains(':') ? $"[{Host}]" : Host)}:{Port}");

    /// <summary>A channel to this address with Cloister's transport settings and the given security.</summary>
    public GrpcChannel CreateChannel(ChannelSecurity? security = null)
    {
        security ??= ChannelSecurity.Insecure;
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        if (SocketPath is { } path)
        {
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        SecureTransport.ConfigureHandler(handler, security);
        return GrpcChannel.ForAddress(ChannelUri(security.UsesTls), new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = CommunicatorLimits.MaxMessageBytes,
            MaxSendMessageSize = CommunicatorLimits.MaxMessageBytes,
            Credentials = security.CallCredentials is { } call && security.UsesTls
                ? Grpc.Core.ChannelCredentials.Create(Grpc.Core.ChannelCredentials.SecureSsl, call)
                : null,
        });
    }

    public override string ToString() => SocketPath is not null
        ? $"unix:{SocketPath}"
        : Host!.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    private static EnclaveException Invalid(string address, string what, string reason) =>
        new(EnclaveStatusCode.InvalidArgument, $"{what} '{address}' is not a valid address: {reason}.");
}
