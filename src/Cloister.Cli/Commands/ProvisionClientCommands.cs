using System.CommandLine;
using Cloister.Remote;
using Cloister.Remote.Protocol;
using Grpc.Core;

namespace Cloister.Cli.Commands;

/// <summary><c>cloister ps</c> and <c>cloister kill</c>: what a provision server runs, and stopping one of its enclaves.</summary>
internal static class ProvisionClientCommands
{
    public static Command CreatePs()
    {
        var connection = new ServerConnection();
        var command = new Command("ps", "List the enclaves a provision server runs.");
        connection.AddTo(command);
        command.SetCloisterAction(async (context, result, cancellationToken) =>
        {
            var reply = await connection.Call(result, (client, headers) =>
                client.ListEnclavesAsync(new ListEnclavesRequest(), headers, DateTime.UtcNow.AddSeconds(30), cancellationToken).ResponseAsync);
            await context.Out.WriteLineAsync($"{"ID",-13} {"NAME",-20} {"PID",7} {"UPTIME",9} {"CPU(s)",8} {"MEM(MiB)",9}  {"MEASUREMENT",-16}  {"CLIENT",-24}  METRICS");
            var now = DateTimeOffset.UtcNow;
            foreach (var e in reply.Enclaves)
            {
                var uptime = now - DateTimeOffset.FromUnixTimeMilliseconds(e.StartedUnixMs);
                await context.Out.WriteLineAsync(
                    $"{e.Id,-13} {e.EnclaveName,-20} {e.ProcessId,7} {uptime:hh\\:mm\\:ss,9} {e.CpuSeconds,8:0.00} {e.WorkingSetBytes / 1048576.0,9:0.0}  {e.Measurement[..Math.Min(16, e.Measurement.Length)],-16}  {e.Client,-24}  {(e.MetricsEndpoint.Length > 0 ? e.MetricsEndpoint : "-")}");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    public static Command CreateKill()
    {
        var connection = new ServerConnection();
        var id = new Argument<string>("id") { Description = "The enclave's id, from `cloister ps`." };
        var command = new Command("kill", "Stop one enclave a provision server runs (its host's calls then fail with Unavailable).") { id };
        connection.AddTo(command);
        command.SetCloisterAction(async (context, result, cancellationToken) =>
        {
            await connection.Call(result, (client, headers) =>
                client.TerminateAsync(new TerminateRequest { Id = result.GetRequiredValue(id) }, headers, DateTime.UtcNow.AddSeconds(30), cancellationToken).ResponseAsync);
            await context.Out.WriteLineAsync($"Terminated {result.GetRequiredValue(id)}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>The flags that reach a provision server: its address, the channel security and a bearer token.</summary>
    private sealed class ServerConnection
    {
        private readonly Option<string> _server = new("--server") { Description = "The provision server's address (host:port).", Required = true };
        private readonly Option<string?> _tokenFile = new("--token-file") { Description = "A file with the server's bearer token." };
        private readonly SecurityCommandLine _security = new();

        public void AddTo(Command command)
        {
            command.Options.Add(_server);
            command.Options.Add(_tokenFile);
            _security.AddTo(command);
        }

        public async Task<T> Call<T>(ParseResult result, Func<Provisioner.ProvisionerClient, Metadata, Task<T>> call)
        {
            var address = EndpointAddress.Parse(result.GetRequiredValue(_server), "--server");
            using var channel = address.CreateChannel(_security.Read(result));
            var headers = new Metadata();
            if (result.GetValue(_tokenFile) is { } tokenFile)
            {
                headers.Add("authorization", $"Bearer {(await File.ReadAllTextAsync(tokenFile)).Trim()}");
            }

            try
            {
                return await call(new Provisioner.ProvisionerClient(channel), headers);
            }
            catch (RpcException ex)
            {
                throw new EnclaveException((EnclaveStatusCode)ex.StatusCode, $"The provision server at {address} answered {ex.StatusCode}: {ex.Status.Detail}", ex);
            }
        }
    }
}
