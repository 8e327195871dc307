using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;

namespace Cloister.Grpc;

/// <summary>
/// TLS for the enclave's gRPC server, carried to the enclave in the <c>server_tls</c> extension of
/// <see cref="EnclaveConfig"/> (<see cref="GrpcServerExtensions.ServerTls"/>): the server certificate with its private key
/// and, for mutual TLS, the CA that clients' certificates must chain to.
/// </summary>
/// <remarks>
/// The host reads these files and hands their contents, the private key included, to the enclave. Nothing attests the
/// enclave to the host or to its clients, so the key is as safe as the host; on the sim backend the enclave shares the
/// host's process. See docs/grpc-server.md and docs/security-model.md.
/// </remarks>
public sealed partial class ServerTls
{
    /// <summary>
    /// Reads the server certificate and key, and for mutual TLS the client CA, from files on the host: the same files as
    /// the remote channels' <c>--ssl-server-cert</c>, <c>--ssl-server-key</c> and <c>--ssl-ca-cert</c>.
    /// </summary>
    /// <param name="certificatePath">The server certificate: PEM (with <paramref name="keyPath"/>), or a PKCS#12 file (.pfx, .p12).</param>
    /// <param name="keyPath">The PEM private key of a PEM certificate; not used with PKCS#12.</param>
    /// <param name="clientCaPath">When set, mutual TLS: the CA certificate(s), PEM, that clients' certificates must chain to.</param>
    /// <param name="password">The password of a PKCS#12 file, if it has one.</param>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.InvalidArgument"/> naming a file that is missing or unreadable.</exception>
    public static ServerTls FromFiles(string certificatePath, string? keyPath = null, string? clientCaPath = null, string? password = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePath);
        var tls = new ServerTls();
        if (Path.GetExtension(certificatePath).ToLowerInvariant() is ".pfx" or ".p12")
        {
            tls.Pkcs12 = ByteString.CopyFrom(Read(certificatePath, "certificate", File.ReadAllBytes));
            if (password is not null)
            {
                tls.Pkcs12Password = password;
            }
        }
        else
        {
            tls.CertificatePem = Read(certificatePath, "certificate", File.ReadAllText);
            tls.PrivateKeyPem = keyPath is not null
                ? Read(keyPath, "private key", File.ReadAllText)
                : throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                    $"The server certificate '{certificatePath}' is PEM: give its private key too (--ssl-server-key), or use a .pfx file.");
        }

        if (clientCaPath is not null)
        {
            tls.ClientCaPem = Read(clientCaPath, "client CA", File.ReadAllText);
        }

        return tls;
    }

    private static T Read<T>(string path, string what, Func<string, T> read)
    {
        try
        {
            return read(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"The {what} file '{path}' for the enclave's gRPC server cannot be read: {ex.Message}");
        }
    }

    /// <summary>Loads the certificates, inside the enclave, with errors that name the field at fault.</summary>
    internal LoadedServerTls Load()
    {
        X509Certificate2 certificate;
        try
        {
            if (HasPkcs12)
            {
                certificate = X509CertificateLoader.LoadPkcs12(Pkcs12.Span, HasPkcs12Password ? Pkcs12Password : null);
            }
            else if (HasCertificatePem && HasPrivateKeyPem)
            {
                certificate = X509Certificate2.CreateFromPem(CertificatePem, PrivateKeyPem);
                if (OperatingSystem.IsWindows())
                {
                    // SChannel cannot use a key that only lives in memory.
                    using var ephemeral = certificate;
                    certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
                }
            }
            else
            {
                throw Invalid("needs certificate_pem with private_key_pem, or pkcs12");
            }
        }
        catch (CryptographicException ex)
        {
            throw Invalid($"holds a server certificate that cannot be loaded: {ex.Message}");
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw Invalid("holds a server certificate without its private key");
        }

        var authorities = new X509Certificate2Collection();
        if (HasClientCaPem)
        {
            try
            {
                authorities.ImportFromPem(ClientCaPem);
            }
            catch (CryptographicException ex)
            {
                certificate.Dispose();
                throw Invalid($"client_ca_pem cannot be read as PEM certificates: {ex.Message}");
            }

            if (authorities.Count == 0)
            {
                certificate.Dispose();
                throw Invalid("client_ca_pem holds no certificate");
            }
        }

        return new LoadedServerTls(certificate, HasClientCaPem ? authorities : null, [.. AllowedClientSubjects]);
    }

    private static EnclaveException Invalid(string reason) =>
        new(EnclaveStatusCode.InvalidArgument, $"The server_tls extension of EnclaveConfig {reason}.");
}

/// <summary>The certificates of a <see cref="ServerTls"/>, loaded in the enclave; disposed with its server.</summary>
internal sealed class LoadedServerTls(X509Certificate2 certificate, X509Certificate2Collection? clientAuthorities, string[] allowedSubjects) : IDisposable
{
    public X509Certificate2 Certificate { get; } = certificate;

    /// <summary>Set for mutual TLS.</summary>
    public X509Certificate2Collection? ClientAuthorities { get; } = clientAuthorities;

    /// <summary>Whether a client certificate chains to <see cref="ClientAuthorities"/> and, when subjects are pinned, has one of them.</summary>
    public bool IsAllowedClient(X509Certificate2 client)
    {
        if (ClientAuthorities is null)
        {
            return true;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ClientAuthorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(client)
            && (allowedSubjects.Length == 0 || allowedSubjects.Any(subject => string.Equals(subject, client.Subject, StringComparison.OrdinalIgnoreCase)));
    }

    public void Dispose()
    {
        Certificate.Dispose();
        if (ClientAuthorities is not null)
        {
            foreach (var authority in ClientAuthorities)
            {
                authority.Dispose();
            }
        }
    }
}
