using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>The <c>provision-server</c> command, shared by <c>cloister provision-server</c> and <c>dotnet Cloister.Remote.dll provision-server</c>.</summary>
public static class ProvisionServerCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var listen = new Option<string>("--listen-address") { Description = "Where to listen (host:port, [IPv6]:port). Default 127.0.0.1:50100.", DefaultValueFactory = _ => "127.0.0.1:50100" };
        var tokenFile = new Option<string?>("--token-file") { Description = "Require 'authorization: Bearer <token>' with the token in this file." };
        var allowInsecure = new Option<bool>("--allow-insecure") { Description = "Serve callers that are not authenticated (trusted networks only; logged loudly)." };
        var allowAnyClientAddress = new Option<bool>("--allow-any-client-address")
        {
            Description = "Let callers on other machines name any host for their proxies to connect back to (by default: only their own address; for hosts behind NAT).",
        };
        var work = new Option<string?>("--work-dir") { Description = "Where uploaded packages are kept while they run (default: a new temp folder)." };
        var maxEnclaves = new Option<int>("--max-enclaves") { Description = "Most enclaves at once.", DefaultValueFactory = _ => 16 };
        var perClient = new Option<int>("--max-enclaves-per-client") { Description = "Most enclaves one client may run at once.", DefaultValueFactory = _ => 8 };
        var maxBytes = new Option<long>("--max-package-bytes") { Description = "The largest package accepted, in bytes.", DefaultValueFactory = _ => new PackageLimits().MaxPackageBytes };
        var allowed = new Option<string[]>("--allowed-measurement") { Description = "Run only packages with this measurement (repeatable)." };
        var proxy = new Option<string?>("--remote-proxy") { Description = "The proxy program to launch (default: the Cloister.Remote.dll next to this program)." };
        var security = new SecurityCommandLine();
        var command = new Command("provision-server", "Run enclaves that hosts on other machines upload: a long-running daemon.")
        {
            listen, tokenFile, allowInsecure, allowAnyClientAddress, work, maxEnclaves, perClient, maxBytes, allowed, proxy,
        };
        security.AddTo(command);
        var metrics = new MetricsCommandLine();
        metrics.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
            try
            {
                var options = new ProvisionServerOptions
                {
                    ListenAddress = result.GetValue(listen)!,
                    Security = security.Read(result),
                    TokenFile = result.GetValue(tokenFile),
                    AllowInsecure = result.GetValue(allowInsecure),
                    AllowAnyClientAddress = result.GetValue(allowAnyClientAddress),
                    WorkDirectory = result.GetValue(work),
                    MaxEnclaves = result.GetValue(maxEnclaves),
                    MaxEnclavesPerClient = result.GetValue(perClient),
                    ProxyPath = result.GetValue(proxy),
                    MetricsPort = result.GetValue(metrics.Port),
                    MetricsAddress = result.GetValue(metrics.Address) ?? MetricsEndpoint.DefaultAddress,
                };
                options.PackageLimits.MaxPackageBytes = result.GetValue(maxBytes);
                foreach (var measurement in result.GetValue(allowed) ?? [])
                {
                    options.AllowedMeasurements.Add(measurement);
                }

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
                {
                    context.Cancel = true;
                    stop.Cancel();
                });
                var server = await ProvisionServer.StartAsync(options, loggerFactory, stop.Token).ConfigureAwait(false);
                await using (server.ConfigureAwait(false))
                {
                    await Console.Out.WriteLineAsync($"Provision server listening on {server.Address}").ConfigureAwait(false);
                    if (server.MetricsUrl is { } metricsUrl)
                    {
                        await Console.Out.WriteLineAsync($"Provision server serves metrics at {metricsUrl}").ConfigureAwait(false);
                        await Console.Out.WriteLineAsync($"Its proxies' metrics endpoints (Prometheus http_sd_configs): {server.ScrapeTargetsUrl}").ConfigureAwait(false);
                    }

                    try
                    {
                        await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        await Console.Out.WriteLineAsync($"Stopping: finalizing {server.RunningEnclaves} enclaves").ConfigureAwait(false);
                    }
                }

                return 0;
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
