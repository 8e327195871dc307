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
    public async Task Demo_OnAnUnknownBackend_IsAUsageError()
    {
        var demo = await CloisterProcess.RunAsync("demo", "--backend", "sgx");

        Assert.Equal(2, demo.ExitCode);
        Assert.Contains("'sgx'", demo.StandardError, StringComparison.Ordinal);
    }
}
