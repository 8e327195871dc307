using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Cloister.Perf.Bare;

/// <summary>
/// Where the bare server listens: <c>unix:/path.sock</c> or <c>ip:port</c> (port 0 = any). The floor connects the way
/// grpc-dotnet documents it and otherwise keeps grpc-dotnet's and Kestrel's defaults: what Cloister adds on top of
/// those is part of what the ratios measure.
/// </summary>
internal sealed record BareAddress(string? SocketPath, IPAddress? Ip, int Port)
{
    public bool IsUnixSocket => SocketPath is not null;

    public string Transport => IsUnixSocket ? "unix" : "tcp";

    public static BareAddress Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        if (text.StartsWith("http://unix:", StringComparison.OrdinalIgnoreCase))
        {
            return new BareAddress(text["http://unix:".Length..], null, 0);
        }

        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            return Path.IsPathRooted(path)
                ? new BareAddress(path, null, 0)
                : throw new ArgumentException($"A Unix socket address needs an absolute path (unix:/tmp/bare.sock), not '{text}'.", nameof(text));
        }

        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        var hostPort = scheme > 0 ? text[(scheme + "://".Length)..].TrimEnd('/') : text;
        var colon = hostPort.LastIndexOf(':');
        if (colon <= 0
            || !IPAddress.TryParse(hostPort[..colon].Trim('[', ']'), out var ip)
            || !int.TryParse(hostPort[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port > 65535)
        {
            throw new ArgumentException($"'{text}' is not an address to listen on: give ip:port (127.0.0.1:0) or unix:/absolute/path.sock.", nameof(text));
        }

        return new BareAddress(null, ip, port);
    }

    public void Listen(KestrelServerOptions kestrel, Action<ListenOptions> configure)
    {
        if (SocketPath is not null)
        {
            kestrel.ListenUnixSocket(SocketPath, configure);
        }
        else
        {
            kestrel.Listen(Ip!, Port, configure);
        }
    }

    /// <summary>
    /// A channel as grpc-dotnet makes one by default (<see cref="SocketsHttpHandler"/> with
    /// <see cref="SocketsHttpHandler.EnableMultipleHttp2Connections"/>), plus the documented connect callback for a Unix
    /// socket; with <paramref name="trustedCa"/>, TLS to a server whose certificate chains to that CA (the standard
    /// custom-root chain policy, no callback of our own).
    /// </summary>
    public GrpcChannel CreateChannel(X509Certificate2? trustedCa = null)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        var scheme = trustedCa is null ? "http" : "https";
        if (trustedCa is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.Add(trustedCa);
            handler.SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
        }

        Uri uri;
        if (SocketPath is { } path)
        {
            uri = new Uri($"{scheme}://localhost");
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        else
        {
            uri = new Uri($"{scheme}://{(Ip!.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Ip}]" : Ip.ToString())}:{Port}");
        }

        return GrpcChannel.ForAddress(uri, new GrpcChannelOptions { HttpHandler = handler });
    }

    public override string ToString() => SocketPath is not null
        ? $"unix:{SocketPath}"
        : Ip!.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Ip}]:{Port}" : $"{Ip}:{Port}";
}
