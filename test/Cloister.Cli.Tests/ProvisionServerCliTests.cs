using System.Diagnostics;

namespace Cloister.Cli.Tests;

/// <summary>
/// The two-terminal set-up of docs/remote.md, with real processes on loopback: one runs `cloister provision-server`
/// with mutual TLS, the other runs the demo against it; `cloister ps` lists, `cloister status` reads the server's metrics
/// endpoint, SIGTERM stops the server cleanly.
/// </summary>
public sealed class ProvisionServerCliTests
{
    [Fact]
    public async Task The_demo_runs_against_a_provision_server_over_mutual_TLS()
    {
        using var folder = new TemporaryFolder();
        var certs = Path.Combine(folder.Path, "certs");
        Assert.Equal(0, (await CloisterProcess.RunAsync("certs", "dev", "--output", certs)).ExitCode);
        string[] mtls = ["--security-type", "mtls", "--ssl-ca-cert", Path.Combine(certs, "ca.pem"),
            "--ssl-server-cert", Path.Combine(certs, "server.pem"), "--ssl-server-key", Path.Combine(certs, "server.key")];

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[TestPaths.CloisterCli, "provision-server", "--listen-address", "127.0.0.1:0", "--work-dir", Path.Combine(folder.Path, "work"), "--metrics-port", "0", .. mtls])
        {
            start.ArgumentList.Add(arg);
        }

        using var server = Process.Start(start)!;
        try
        {
            _ = server.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            string? line;
            do
            {
                // The server logs to standard output too; its address comes on a line of its own.
                line = await server.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            }
            while (line is not null && !line.StartsWith("Provision server listening on ", StringComparison.Ordinal));

            Assert.NotNull(line);
            var address = line["Provision server listening on ".Length..];
            do
            {
                line = await server.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            }
            while (line is not null && !line.StartsWith("Provision server serves metrics at ", StringComparison.Ordinal));

            Assert.NotNull(line);
            var metrics = line["Provision server serves metrics at ".Length..];
            Assert.StartsWith("http://127.0.0.1:", metrics, StringComparison.Ordinal);
            _ = server.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);

            var demo = await CloisterProcess.RunAsync(["demo", "--backend", "remote", "--provision-server", address, .. mtls]);
            Assert.True(demo.ExitCode == 0, demo.ToString());
            Assert.Contains("enclave returned > Bonjour, Carol! (call #3)", demo.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("Uploading [##############################]", demo.StandardError, StringComparison.Ordinal);

            var status = await CloisterProcess.RunAsync("status", "--address", metrics);
            Assert.True(status.ExitCode == 0, status.ToString());
            Assert.Contains("Provision server at http://127.0.0.1:", status.StandardOutput, StringComparison.Ordinal);
            Assert.Contains(": SERVING", status.StandardOutput, StringComparison.Ordinal);
            Assert.Matches(@"uploads       0 in flight, [0-9.]+ (KiB|MiB) received", status.StandardOutput);
            Assert.Contains("rejections    0", status.StandardOutput, StringComparison.Ordinal);

            var ps = await CloisterProcess.RunAsync(["ps", "--server", address, .. mtls]);
            Assert.True(ps.ExitCode == 0, ps.ToString());
            Assert.StartsWith("ID", ps.StandardOutput, StringComparison.Ordinal);

            var stranger = await CloisterProcess.RunAsync("ps", "--server", address);
            Assert.Equal(1, stranger.ExitCode);

            using (var term = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync(TestContext.Current.CancellationToken);
            }

            await server.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.Equal(0, server.ExitCode);
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(folder.Path, "work")));
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }
        }
    }
}
