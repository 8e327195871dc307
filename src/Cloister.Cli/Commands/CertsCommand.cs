using System.CommandLine;
using Cloister.Remote;

namespace Cloister.Cli.Commands;

/// <summary><c>cloister certs dev</c>: a development CA with server and client certificates, to try TLS and mutual TLS.</summary>
internal sealed class CertsCommand : Command
{
    /// <summary>Creates the command.</summary>
    public CertsCommand()
        : base("certs", "Certificates for Cloister's TLS and mutual TLS channels.")
    {
        Subcommands.Add(new DevCommand());
    }

    private sealed class DevCommand : Command
    {
        private readonly Option<string> _output = new("--output", "-o")
        {
            Description = "The folder to write the certificates into.",
            DefaultValueFactory = _ => "cloister-dev-certs",
            HelpName = "folder",
        };

        private readonly Option<string[]> _names = new("--name")
        {
            Description = "Another DNS name or IP address the server certificate is valid for (repeatable); localhost, 127.0.0.1 and ::1 always are.",
        };

        public DevCommand()
            : base("dev", "Create a development CA, a server and a client certificate (PEM). Not for production.")
        {
            Options.Add(_output);
            Options.Add(_names);
            this.SetCloisterAction(ExecuteAsync);
        }

        private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
        {
            var folder = Path.GetFullPath(parseResult.GetRequiredValue(_output));
            DevelopmentCertificates.Create(folder, parseResult.GetValue(_names));
            string File(string name) => Path.Combine(folder, name);
            await context.Out.WriteLineAsync($"""
                Wrote a development CA and certificates to {folder}:
                  {DevelopmentCertificates.Files.Ca,-11} the CA every side trusts
                  {DevelopmentCertificates.Files.ServerCertificate,-11} {DevelopmentCertificates.Files.ServerKey,-11} server (and host/proxy) identity; valid for localhost, 127.0.0.1, ::1
                  {DevelopmentCertificates.Files.ClientCertificate,-11} {DevelopmentCertificates.Files.ClientKey,-11} client identity, CN=cloister-dev-client

                Mutual TLS with them:
                  --security-type mtls --ssl-ca-cert {File(DevelopmentCertificates.Files.Ca)} \
                    --ssl-server-cert {File(DevelopmentCertificates.Files.ServerCertificate)} --ssl-server-key {File(DevelopmentCertificates.Files.ServerKey)}

                The keys are unencrypted files: for development only.
                """);
            return ExitCodes.Success;
        }
    }
}
