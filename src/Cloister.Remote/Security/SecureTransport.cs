using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Cloister.Remote;

/// <summary>Applies a <see cref="ChannelSecurity"/> to Kestrel listeners and to gRPC client handlers.</summary>
internal static class SecureTransport
{
    /// <summary>Adds TLS (and client-certificate checks for mutual TLS) to a listener.</summary>
    public static void ConfigureListener(ListenOptions listen, ChannelSecurity security)
    {
        if (!security.UsesTls)
        {
            return;
        }

        var material = security.Material;
        listen.UseHttps(https =>
        {
            https.ServerCertificate = material.RequireServerCertificate();
            if (security.Type == ChannelSecurityType.MutualTls)
            {
                https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
                https.ClientCertificateValidation = (certificate, _, _) => IsAllowedClient(material, certificate);
            }

            security.ConfigureServer?.Invoke(https);
        });
    }

    /// <summary>Makes a client handler verify the server against the CA and, for mutual TLS, present the client certificate.</summary>
    public static void ConfigureHandler(SocketsHttpHandler handler, ChannelSecurity security)
    {
        if (!security.UsesTls)
        {
            return;
        }

        var material = security.Material;
        var options = new SslClientAuthenticationOptions
        {
            // The CA is ours, not the system's: the platform's chain errors are replaced by a chain build against it;
            // name mismatches and missing certificates stay fatal.
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is X509Certificate2 server
                && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && material.ChainsToAuthority(server),
        };
        if (security.Type == ChannelSecurityType.MutualTls)
        {
            var client = material.ClientCertificate
                ?? throw new EnclaveException(EnclaveStatusCode.InvalidArgument, "--security-type mtls needs a client certificate: --ssl-client-cert (or --ssl-server-cert, used for both).");
            options.ClientCertificates = [client];
        }

        security.ConfigureClient?.Invoke(options);
        handler.SslOptions = options;
    }

    private static bool IsAllowedClient(ChannelSecurity.SecurityMaterial material, X509Certificate2 certificate)
    {
        if (!material.ChainsToAuthority(certificate))
        {
            return false;
        }

        var allowed = material.Settings.AllowedClientSubjects;
        return allowed.Count == 0 || allowed.Any(subject => string.Equals(subject, certificate.Subject, StringComparison.OrdinalIgnoreCase));
    }
}
