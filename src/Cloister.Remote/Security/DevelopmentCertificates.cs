using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Cloister.Remote;

/// <summary>
/// A development CA with a server and a client certificate, so TLS and mutual TLS can be tried in one command
/// (<c>cloister certs dev</c>). Not for production: the keys are unencrypted files, and the CA is valid for a year.
/// </summary>
public static class DevelopmentCertificates
{
    /// <summary>The files written, relative to the output folder.</summary>
    public static class Files
    {
        /// <summary>The CA certificate: what every side trusts (<c>--ssl-ca-cert</c>).</summary>
        public const string Ca = "ca.pem";

        /// <summary>The server certificate (<c>--ssl-server-cert</c>); valid for localhost, 127.0.0.1, ::1 and the given names.</summary>
        public const string ServerCertificate = "server.pem";

        /// <summary>The server key (<c>--ssl-server-key</c>).</summary>
        public const string ServerKey = "server.key";

        /// <summary>The client certificate (<c>--ssl-client-cert</c>), subject <c>CN=cloister-dev-client</c>.</summary>
        public const string ClientCertificate = "client.pem";

        /// <summary>The client key (<c>--ssl-client-key</c>).</summary>
        public const string ClientKey = "client.key";
    }

    /// <summary>Writes a CA, a server and a client certificate (PEM) into <paramref name="directory"/>.</summary>
    /// <param name="directory">The output folder; created if needed. Existing files are replaced.</param>
    /// <param name="serverNames">Extra DNS names or IP addresses the server certificate is valid for (e.g. another machine's).</param>
    /// <param name="validity">How long the certificates are valid. Default: a year.</param>
    public static void Create(string directory, IEnumerable<string>? serverNames = null, TimeSpan? validity = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = notBefore + (validity ?? TimeSpan.FromDays(365));

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Cloister Development CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(notBefore, notAfter);

        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        foreach (var name in serverNames ?? [])
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                names.AddIpAddress(ip);
            }
            else
            {
                names.AddDnsName(name);
            }
        }

        // The server certificate also allows client authentication, so one identity serves a process that both
        // listens and connects (hosts and proxies do both).
        Issue(ca, caKey, "CN=cloister-dev-server", names.Build(), [Oid.FromOidValue("1.3.6.1.5.5.7.3.1", OidGroup.EnhancedKeyUsage), Oid.FromOidValue("1.3.6.1.5.5.7.3.2", OidGroup.EnhancedKeyUsage)],
            notBefore, notAfter, Path.Combine(directory, Files.ServerCertificate), Path.Combine(directory, Files.ServerKey));
        Issue(ca, caKey, "CN=cloister-dev-client", null, [Oid.FromOidValue("1.3.6.1.5.5.7.3.2", OidGroup.EnhancedKeyUsage)],
            notBefore, notAfter, Path.Combine(directory, Files.ClientCertificate), Path.Combine(directory, Files.ClientKey));
        File.WriteAllText(Path.Combine(directory, Files.Ca), ca.ExportCertificatePem() + "\n");
    }

    private static void Issue(X509Certificate2 ca, ECDsa caKey, string subject, X509Extension? names, Oid[] usages,
        DateTimeOffset notBefore, DateTimeOffset notAfter, string certificatePath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([.. usages], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (names is not null)
        {
            request.CertificateExtensions.Add(names);
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var certificate = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), notBefore, notAfter, serial);
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
