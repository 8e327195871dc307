using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>The <c>proxy</c> command, shared by <c>cloister proxy</c> and <c>dotnet Cloister.Remote.dll proxy</c>.</summary>
public static class ProxyCommand
{
    /// <summary>The environment variable that carries the session token to the proxy (kept off the command line).</summary>
    public const string SessionTokenVariable = "CLOISTER_SESSION_TOKEN";

    /// <summary>
    /// How the proxy's command line must be parsed: without response files. A proxy's arguments include values a remote
    /// caller chose (through a provision server, the enclave's name); with System.CommandLine's default, an argument
    /// <c>@/some/file</c> would be replaced by that file's lines, and those would end up in the proxy's output, which goes
    /// back to the caller.
    /// </summary>
    internal static ParserConfiguration ParserConfiguration { get; } = new() { ResponseFileTokenReplacer = null };

    /// <summary>Creates the <c>proxy</c> command.</summary>
    public static Command Create()
    {
        var clientAddress = new Option<string>("--client-address") { Description = "The host's communicator address (host:port, [IPv6]:port or unix:/path).", Required = true };
        var package = new Option<string>("--package") { Description = "The .cloister package to host.", Required = true };
        var name = new Option<string>("--name") { Description = "The enclave's name.", Required = true };
        var listen = new Option<string?>("--listen-address") { Description = "Where to listen (default: next to the host's address, port 0)." };
        var measurement = new Option<string?>("--expected-measurement") { Description = "Refuse the package unless its SHA-256 measurement is this." };
        var debug = new Option<bool>("--debug") { Description = "Send enclave stack traces to the host." };
        var parent = new Option<int?>("--parent-pid") { Description = "Exit when this process exits." };
        var metricsUrlFile = new Option<string?>("--metrics-url-file")
        {
            Description = "With --metrics-port: write the metrics URL (the port picked, for port 0) to this file once serving, for whatever started the proxy (a provision server lists it for Prometheus).",
            HelpName = "path",
        };
        var security = new SecurityCommandLine();
        var command = new Command("proxy", "Host one enclave for a remote host (started by the remote backend, not by hand).")
        {
            clientAddress, package, name, listen, measurement, debug, parent, metricsUrlFile,
        };
        security.AddTo(command);
        var metrics = new MetricsCommandLine();
        metrics.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            var options = new ProxyServerOptions
            {
                ClientAddress = result.GetValue(clientAddress)!,
                PackagePath = result.GetValue(package)!,
                EnclaveName = result.GetValue(name)!,
                ListenAddress = result.GetValue(listen),
                ExpectedMeasurement = result.GetValue(measurement),
                Debug = result.GetValue(debug),
                ParentProcessId = result.GetValue(parent),
                SessionToken = Environment.GetEnvironmentVariable(SessionTokenVariable) ?? "",
                MetricsPort = result.GetValue(metrics.Port),
                MetricsAddress = result.GetValue(metrics.Address) ?? MetricsEndpoint.DefaultAddress,
                MetricsUrlFile = result.GetValue(metricsUrlFile),
            };
            try
            {
                options.Security = security.Read(result);
                options.Security.Validate();
                return await ProxyServer.RunAsync(options, loggerFactory, cancellationToken).ConfigureAwait(false);
            }
            catch (EnclaveException ex)
            {
                await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
