using System.CommandLine;

namespace Cloister.Remote;

/// <summary>
/// The security flags every Cloister command that opens a channel takes (<c>cloister proxy</c>, <c>provision-server</c>,
/// <c>run</c>, <c>demo</c>, the Translator driver), and how they become a <see cref="ChannelSecurity"/>.
/// </summary>
public sealed class SecurityCommandLine
{
    /// <summary><c>--security-type</c>: insecure (local), tls (ssl) or mtls.</summary>
    public Option<string> SecurityType { get; } = new("--security-type", "--security_type")
    {
        Description = "Channel security: insecure (alias local), tls (alias ssl) or mtls.",
        DefaultValueFactory = _ => "insecure",
    };

    /// <summary><c>--ssl-server-cert</c>.</summary>
    public Option<string?> ServerCertificate { get; } = new("--ssl-server-cert", "--ssl_server_cert") { Description = "This side's certificate when listening (PEM with --ssl-server-key, or PFX)." };

    /// <summary><c>--ssl-server-key</c>.</summary>
    public Option<string?> ServerKey { get; } = new("--ssl-server-key", "--ssl_server_key") { Description = "The PEM private key of --ssl-server-cert." };

    /// <summary><c>--ssl-client-cert</c>.</summary>
    public Option<string?> ClientCertificate { get; } = new("--ssl-client-cert", "--ssl_client_cert") { Description = "This side's certificate when connecting with mtls (default: --ssl-server-cert)." };

    /// <summary><c>--ssl-client-key</c>.</summary>
    public Option<string?> ClientKey { get; } = new("--ssl-client-key", "--ssl_client_key") { Description = "The PEM private key of --ssl-client-cert." };

    /// <summary><c>--ssl-ca-cert</c>.</summary>
    public Option<string?> CaCertificate { get; } = new("--ssl-ca-cert", "--ssl_ca_cert") { Description = "The CA (PEM) peers' certificates must chain to." };

    /// <summary><c>--ssl-allowed-subject</c>.</summary>
    public Option<string[]> AllowedSubjects { get; } = new("--ssl-allowed-subject") { Description = "With mtls: accept only client certificates with this subject (repeatable), e.g. \"CN=host-a\"." };

    /// <summary>Creates the options.</summary>
    public SecurityCommandLine()
    {
        SecurityType.Validators.Add(result =>
        {
            try
            {
                ChannelSecurity.ParseType(result.GetValueOrDefault<string>());
            }
            catch (ArgumentException ex)
            {
                result.AddError(ex.Message);
            }
        });
    }

    /// <summary>Adds every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(SecurityType);
        command.Options.Add(ServerCertificate);
        command.Options.Add(ServerKey);
        command.Options.Add(ClientCertificate);
        command.Options.Add(ClientKey);
        command.Options.Add(CaCertificate);
        command.Options.Add(AllowedSubjects);
    }

    /// <summary>The settings a parsed command line asked for.</summary>
    public ChannelSecurity Read(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var security = new ChannelSecurity
        {
            Type = ChannelSecurity.ParseType(result.GetValue(SecurityType) ?? "insecure"),
            ServerCertificatePath = result.GetValue(ServerCertificate),
            ServerKeyPath = result.GetValue(ServerKey),
            ClientCertificatePath = result.GetValue(ClientCertificate),
            ClientKeyPath = result.GetValue(ClientKey),
            CaCertificatePath = result.GetValue(CaCertificate),
        };
        foreach (var subject in result.GetValue(AllowedSubjects) ?? [])
        {
            security.AllowedClientSubjects.Add(subject);
        }

        return security;
    }
}
