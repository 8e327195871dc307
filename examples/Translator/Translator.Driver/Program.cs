using System.CommandLine;
using System.Runtime.InteropServices;
using Cloister;
using Cloister.Grpc;
using Cloister.Remote;
using Microsoft.Extensions.Logging;

// The Translator host driver. Flags follow the Asylo example (underscore spellings are accepted too).
var enclavePath = new Option<string?>("--enclave-path", "--enclave_path") { Description = "The Translator enclave package (.cloister). Required." };
var port = new Option<int>("--port") { Description = "The port the enclave's gRPC server listens on; 0 lets the system choose.", DefaultValueFactory = _ => 0 };
var lifetime = new Option<int>("--server-max-lifetime", "--server_max_lifetime") { Description = "Seconds to serve before shutting down.", DefaultValueFactory = _ => 300 };
var backend = new Option<string>("--backend") { Description = "Where the enclave runs: sim (this process, NO isolation) or remote (a proxy process).", DefaultValueFactory = _ => SimBackend.BackendName };
backend.AcceptOnlyFromAmong(SimBackend.BackendName, RemoteBackend.BackendName);
var debug = new Option<bool>("--debug") { Description = "Verbose logs, and enclave errors with their stack traces." };
var security = new SecurityCommandLine();
var root = new RootCommand("Runs the Translator enclave's gRPC server (over TLS with --security-type tls or mtls).") { enclavePath, port, lifetime, backend, debug };
security.AddTo(root);
root.SetAction((result, cancellationToken) => TranslatorDriver.RunAsync(
    result.GetValue(enclavePath), result.GetValue(port), result.GetValue(lifetime), result.GetValue(backend)!, result.GetValue(debug), security.Read(result), cancellationToken));
return await root.Parse(args).InvokeAsync();

internal static class TranslatorDriver
{
    public static async Task<int> RunAsync(string? enclavePath, int port, int lifetimeSeconds, string backendName, bool debug, ChannelSecurity security, CancellationToken cancellationToken)
    {
        if (Validate(enclavePath, port, lifetimeSeconds) is { } problem)
        {
            await Console.Error.WriteLineAsync($"error: {problem}");
            return 1;
        }

        // Logs go to standard error: standard output carries only the "Server started" line.
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(debug ? LogLevel.Debug : LogLevel.Warning));
        var options = new EnclaveManagerOptions { LoggerFactory = loggerFactory, ConsoleOut = Console.Error };
        // The security flags protect the remote backend's channels between this driver and the proxy, and the
        // enclave's own gRPC server: with tls or mtls it serves TLS with --ssl-server-cert.
        RemoteBackend? remote;
        ServerTls? tls;
        try
        {
            tls = ServerTlsFrom(security);
            remote = backendName == RemoteBackend.BackendName ? new RemoteBackend(new RemoteProxyConfig { Security = security }) : null;
        }
        catch (EnclaveException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }

        await using var remoteScope = remote;
        if (remote is not null)
        {
            options.Backends.Add(remote);
        }

        await using var manager = new EnclaveManager(options);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

        try
        {
            var config = new EnclaveConfig().WithExtension(GrpcServerExtensions.ServerAddress, $"127.0.0.1:{port}");
            if (tls is not null)
            {
                config.SetExtension(GrpcServerExtensions.ServerTls, tls);
            }

            var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig
            {
                Name = "translator",
                PackagePath = enclavePath,
                Backend = backendName,
                Debug = debug,
                Config = config,
            }, stop.Token);
            var output = await client.EnterAndRunAsync(new EnclaveInput(), stop.Token);
            Console.WriteLine($"Server started on port {output.GetExtensionValue(GrpcServerExtensions.ActualServerPort)}");

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(lifetimeSeconds), stop.Token);
            }
            catch (OperationCanceledException)
            {
                // SIGINT or SIGTERM: shut down as at the end of the lifetime.
            }

            await manager.DestroyEnclaveAsync(client, new EnclaveFinal { Reason = "The driver is shutting down." }, CancellationToken.None);
            return 0;
        }
        catch (EnclaveException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// The enclave server's TLS from the same settings as the remote channels: its certificate is --ssl-server-cert, and
    /// with mtls clients must present a certificate chaining to --ssl-ca-cert (and, if given, with an --ssl-allowed-subject).
    /// The certificate's private key is handed to the enclave.
    /// </summary>
    private static ServerTls? ServerTlsFrom(ChannelSecurity security)
    {
        if (!security.UsesTls)
        {
            return null;
        }

        if (security.ServerCertificatePath is null)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"--security-type {ChannelSecurity.FormatType(security.Type)} makes the Translator serve TLS: give its certificate with --ssl-server-cert (and --ssl-server-key for PEM); `cloister certs dev` makes one.");
        }

        var mutual = security.Type == ChannelSecurityType.MutualTls;
        if (mutual && security.CaCertificatePath is null)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, "--security-type mtls needs --ssl-ca-cert: the CA that clients' certificates must chain to.");
        }

        var tls = ServerTls.FromFiles(security.ServerCertificatePath, security.ServerKeyPath, mutual ? security.CaCertificatePath : null, security.CertificatePassword);
        if (mutual)
        {
            tls.AllowedClientSubjects.Add(security.AllowedClientSubjects);
        }

        return tls;
    }

    private static string? Validate(string? enclavePath, int port, int lifetimeSeconds)
    {
        if (string.IsNullOrWhiteSpace(enclavePath))
        {
            return "--enclave-path is required: give the Translator enclave package (building Translator.Driver writes it to artifacts/translator.cloister).";
        }

        try
        {
            using var probe = File.OpenRead(enclavePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"--enclave-path '{enclavePath}' cannot be read: {ex.Message}";
        }

        if (port is < 0 or > 65535)
        {
            return $"--port {port} is not a port number (0 to 65535; 0 lets the system choose).";
        }

        return lifetimeSeconds <= 0 ? $"--server-max-lifetime {lifetimeSeconds} must be a positive number of seconds." : null;
    }
}
