namespace Cloister.Cli.Tests;

public sealed class DemoTests
{
    [Fact]
    public async Task Demo_WithNoSetup_GreetsThroughTheEnclaveAndWarnsThereIsNoIsolation()
    {
        var demo = await CloisterProcess.RunAsync("demo");

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("NO isolation", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("enclave console  > Bonjour, Alice! (call #1)", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("enclave returned > Bonjour, Carol! (call #3)", demo.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_OnTheRemoteBackend_GreetsThroughAProxyProcess()
    {
        var demo = await CloisterProcess.RunAsync("demo", "--backend", "remote");

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("on the 'remote' backend", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("enclave console  > Bonjour, Alice! (call #1)", demo.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("enclave returned > Bonjour, Carol! (call #3)", demo.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_OnTheRemoteBackend_OverMutualTls_WithDevelopmentCertificates()
    {
        using var folder = new TemporaryFolder();
        var certs = Path.Combine(folder.Path, "certs");
        var created = await CloisterProcess.RunAsync("certs", "dev", "--output", certs);
        Assert.True(created.ExitCode == 0, created.ToString());

        var demo = await CloisterProcess.RunAsync("demo", "--backend", "remote", "--security-type", "mtls",
            "--ssl-ca-cert", Path.Combine(certs, "ca.pem"), "--ssl-server-cert", Path.Combine(certs, "server.pem"), "--ssl-server-key", Path.Combine(certs, "server.key"));

        Assert.True(demo.ExitCode == 0, demo.ToString());
        Assert.Contains("enclave returned > Bonjour, Carol! (call #3)", demo.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_OverTls_WithoutACa_FailsNamingTheFlag()
    {
        var demo = await CloisterProcess.RunAsync("demo", "--backend", "remote", "--security-type", "tls");

        Assert.Equal(1, demo.ExitCode);
        Assert.Contains("--ssl-ca-cert", demo.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_OnAnUnknownBackend_IsAUsageError()
    {
        var demo = await CloisterProcess.RunAsync("demo", "--backend", "sgx");

        Assert.Equal(2, demo.ExitCode);
        Assert.Contains("'sgx'", demo.StandardError, StringComparison.Ordinal);
    }
}
