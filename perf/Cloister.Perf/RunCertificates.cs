using System.Security.Cryptography.X509Certificates;
using Cloister.Remote;

namespace Cloister.Perf;

/// <summary>
/// The run's TLS material: a development CA with a server certificate (also valid for client authentication) made by
/// <see cref="DevelopmentCertificates.Create"/>, as <c>cloister certs dev</c> makes it, in the run's temporary folder.
/// Every TLS figure uses it, the bare floor's server and client as well as Cloister's channels.
/// </summary>
internal sealed class RunCertificates
{
    private RunCertificates(string folder) => Folder = folder;

    public string Folder { get; }

    public string Ca => Path.Combine(Folder, DevelopmentCertificates.Files.Ca);

    public string ServerCertificate => Path.Combine(Folder, DevelopmentCertificates.Files.ServerCertificate);

    public string ServerKey => Path.Combine(Folder, DevelopmentCertificates.Files.ServerKey);

    public static RunCertificates Create(string folder)
    {
        DevelopmentCertificates.Create(folder);
        return new RunCertificates(folder);
    }

    /// <summary>Cloister's settings for <paramref name="type"/>: one certificate to listen and to connect, as in docs/remote.md.</summary>
    public ChannelSecurity Security(ChannelSecurityType type) => type == ChannelSecurityType.Insecure
        ? ChannelSecurity.Insecure
        : new ChannelSecurity { Type = type, ServerCertificatePath = ServerCertificate, ServerKeyPath = ServerKey, CaCertificatePath = Ca };

    /// <summary>The CA, for the bare floor's client.</summary>
    public X509Certificate2 LoadCa() => X509CertificateLoader.LoadCertificateFromFile(Ca);
}
