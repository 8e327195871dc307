using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Cloister.Remote;

/// <summary>
/// The security of Cloister's gRPC channels, the same settings for every channel a process has: host ↔ proxy,
/// proxy ↔ host, host ↔ provision server. A process uses its server certificate when it listens and its client
/// certificate (with mutual TLS) when it connects; the peer's certificate must chain to
/// <see cref="CaCertificatePath"/>. Certificates are PEM (certificate + key files) or PFX/PKCS#12 (one file).
/// </summary>
/// <remarks>
/// TLS protects the channel; it does not make the proxy a hardware enclave, and nothing here attests what code the
/// proxy runs. See docs/security-model.md.
/// </remarks>
public sealed class ChannelSecurity
{
    private SecurityMaterial? _material;

    /// <summary>Plaintext (the default).</summary>
    public ChannelSecurityType Type { get; set; }

    /// <summary>This side's certificate when it listens: a PEM certificate (with <see cref="ServerKeyPath"/>) or a PFX file.</summary>
    public string? ServerCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="ServerCertificatePath"/>; not used with PFX.</summary>
    public string? ServerKeyPath { get; set; }

    /// <summary>This side's certificate when it connects with mutual TLS. Default: the server certificate.</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="ClientCertificatePath"/>; not used with PFX.</summary>
    public string? ClientKeyPath { get; set; }

    /// <summary>The password of PFX files, if they have one.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>The CA certificate(s), PEM, that a peer's certificate must chain to. Required for TLS and mutual TLS.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>
    /// With mutual TLS: when not empty, a client certificate's subject (e.g. <c>CN=host-a</c>) must be one of these, on top of
    /// chaining to the CA.
    /// </summary>
    public IList<string> AllowedClientSubjects { get; } = [];

    /// <summary>Call credentials added to every call this side makes (e.g. a bearer token), in code.</summary>
    public CallCredentials? CallCredentials { get; set; }

    /// <summary>A last word on the server side's TLS options (Kestrel's <see cref="HttpsConnectionAdapterOptions"/>), in code.</summary>
    public Action<HttpsConnectionAdapterOptions>? ConfigureServer { get; set; }

    /// <summary>A last word on the client side's TLS options, in code.</summary>
    public Action<SslClientAuthenticationOptions>? ConfigureClient { get; set; }

    /// <summary>True for TLS and mutual TLS.</summary>
    public bool UsesTls => Type != ChannelSecurityType.Insecure;

    /// <summary>Plaintext settings.</summary>
    public static ChannelSecurity Insecure => new();

    /// <summary>Parses a <c>--security-type</c> value: <c>insecure</c> (or <c>local</c>), <c>tls</c> (or <c>ssl</c>), <c>mtls</c>.</summary>
    /// <exception cref="ArgumentException">Any other value, with the accepted ones.</exception>
    public static ChannelSecurityType ParseType(string value) => value.Trim().ToLowerInvariant() switch
    {
        "insecure" or "local" => ChannelSecurityType.Insecure,
        "tls" or "ssl" => ChannelSecurityType.Tls,
        "mtls" => ChannelSecurityType.MutualTls,
        _ => throw new ArgumentException($"'{value}' is not a security type; use insecure (or local), tls (or ssl), or mtls.", nameof(value)),
    };

    /// <summary>The command-line spelling of <paramref name="type"/>.</summary>
    public static string FormatType(ChannelSecurityType type) => type switch
    {
        ChannelSecurityType.Tls => "tls",
        ChannelSecurityType.MutualTls => "mtls",
        _ => "insecure",
    };

    /// <summary>Checks the settings and loads the certificates, once.</summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.InvalidArgument"/> naming the missing or unreadable setting.</exception>
    public void Validate() => _ = Material;

    internal SecurityMaterial Material => _material ??= SecurityMaterial.Load(this);

    /// <summary>The flags that give a child process (a proxy) these settings.</summary>
    internal IEnumerable<string> ToArguments()
    {
        yield return "--security-type";
        yield return FormatType(Type);
        if (!UsesTls)
        {
            yield break;
        }

        foreach (var (flag, value) in new[]
        {
            ("--ssl-server-cert", ServerCertificatePath), ("--ssl-server-key", ServerKeyPath),
            ("--ssl-client-cert", ClientCertificatePath), ("--ssl-client-key", ClientKeyPath),
            ("--ssl-ca-cert", CaCertificatePath),
        })
        {
            if (value is not null)
            {
                yield return flag;
                yield return Path.GetFullPath(value);
            }
        }

        foreach (var subject in AllowedClientSubjects)
        {
            yield return "--ssl-allowed-subject";
            yield return subject;
        }
    }

    /// <summary>The certificates of a <see cref="ChannelSecurity"/>, loaded and checked.</summary>
    internal sealed class SecurityMaterial
    {
        private SecurityMaterial(ChannelSecurity settings, X509Certificate2? server, X509Certificate2? client, X509Certificate2Collection authorities)
        {
            Settings = settings;
            ServerCertificate = server;
            ClientCertificate = client;
            Authorities = authorities;
        }

        public ChannelSecurity Settings { get; }

        public X509Certificate2? ServerCertificate { get; }

        public X509Certificate2? ClientCertificate { get; }

        public X509Certificate2Collection Authorities { get; }

        public static SecurityMaterial Load(ChannelSecurity settings)
        {
            if (!settings.UsesTls)
            {
                return new SecurityMaterial(settings, null, null, []);
            }

            if (string.IsNullOrEmpty(settings.CaCertificatePath))
            {
                throw Invalid($"--security-type {FormatType(settings.Type)} needs --ssl-ca-cert: the CA that peers' certificates must chain to (`cloister certs dev` makes one).");
            }

            var authorities = new X509Certificate2Collection();
            try
            {
                authorities.ImportFromPemFile(settings.CaCertificatePath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw Invalid($"--ssl-ca-cert '{settings.CaCertificatePath}' cannot be read as PEM certificates: {ex.Message}");
            }

            if (authorities.Count == 0)
            {
                throw Invalid($"--ssl-ca-cert '{settings.CaCertificatePath}' holds no certificate.");
            }

            var server = settings.ServerCertificatePath is null ? null : LoadCertificate(settings.ServerCertificatePath, settings.ServerKeyPath, settings.CertificatePassword, "--ssl-server-cert");
            var client = settings.ClientCertificatePath is null ? server : LoadCertificate(settings.ClientCertificatePath, settings.ClientKeyPath, settings.CertificatePassword, "--ssl-client-cert");
            return new SecurityMaterial(settings, server, client, authorities);
        }

        /// <summary>The server certificate, or a clear error when a listening side has none.</summary>
        public X509Certificate2 RequireServerCertificate() => ServerCertificate
            ?? throw Invalid($"--security-type {FormatType(Settings.Type)} needs --ssl-server-cert (and --ssl-server-key for PEM) on a side that listens.");

        /// <summary>Whether <paramref name="certificate"/> chains to one of <see cref="Authorities"/>.</summary>
        public bool ChainsToAuthority(X509Certificate2 certificate)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        }

        private static X509Certificate2 LoadCertificate(string path, string? keyPath, string? password, string flag)
        {
            try
            {
                var extension = Path.GetExtension(path).ToLowerInvariant();
                if (extension is ".pfx" or ".p12")
                {
                    return X509CertificateLoader.LoadPkcs12FromFile(path, password);
                }

                if (keyPath is null)
                {
                    throw Invalid($"{flag} '{path}' is PEM: give its private key too ({flag.Replace("-cert", "-key", StringComparison.Ordinal)}), or use a .pfx file.");
                }

                return X509Certificate2.CreateFromPemFile(path, keyPath);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw Invalid($"{flag} '{path}' cannot be loaded: {ex.Message}");
            }
        }

        private static EnclaveException Invalid(string message) => new(EnclaveStatusCode.InvalidArgument, message);
    }
}
