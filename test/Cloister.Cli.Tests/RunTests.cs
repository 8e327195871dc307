namespace Cloister.Cli.Tests;

public sealed class RunTests(HelloPackageFixture hello) : IClassFixture<HelloPackageFixture>, IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Run_WithText_PrintsTheGreeting()
    {
        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--text", "World");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hello, World!", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithTheRightExpectedMeasurement_Runs()
    {
        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--text", "World", "--expected-measurement", hello.Measurement.ToUpperInvariant());

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hello, World!", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithAWrongExpectedMeasurement_RefusesNamingBothMeasurements()
    {
        var wrong = new string('0', 64);

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--text", "World", "--expected-measurement", wrong);

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("Hello", run.StandardOutput, StringComparison.Ordinal);
        var error = Assert.Single(run.StandardError.Split('\n'), line => line.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("measurement", error, StringComparison.Ordinal);
        Assert.Contains(wrong, error, StringComparison.Ordinal);
        Assert.Contains(hello.Measurement, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithGreetingFileInEnvironment_UsesTheGreetingFromTheHostFile()
    {
        var greetingFile = _folder.File("greeting.txt");
        await File.WriteAllTextAsync(greetingFile, "Hej", TestContext.Current.CancellationToken);

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--text", "World", "--env", $"GREETING_FILE={greetingFile}");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hej, World!", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WhenInitializeFails_ReportsTheEnclaveError()
    {
        var missing = _folder.File("missing.txt");

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--env", $"GREETING_FILE={missing}");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: Host file '{missing}'", run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnAnUnknownBackend_IsAUsageErrorNamingTheChoices()
    {
        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--backend", "sgx");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("'sgx'", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("remote", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnTheRemoteBackend_GreetsFromAProxyProcess()
    {
        var greetingFile = _folder.File("greeting.txt");
        await File.WriteAllTextAsync(greetingFile, "Hallo", TestContext.Current.CancellationToken);

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--backend", "remote", "--text", "World", "--env", $"GREETING_FILE={greetingFile}");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hallo, World!", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnTheRemoteBackend_WithAMissingProxy_FailsNamingIt()
    {
        var missing = _folder.File("no-such-proxy");

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--backend", "remote", "--remote-proxy", missing);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: The proxy program '{missing}' does not exist", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithAMalformedEnvironmentEntry_IsAUsageError()
    {
        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--env", "GREETING_FILE");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is not KEY=VALUE", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithAMissingDataFile_FailsNamingIt()
    {
        var missing = _folder.File("input.bin");

        var run = await CloisterProcess.RunAsync("run", hello.PackagePath, "--data-file", missing);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"error: --data-file '{missing}' does not exist", run.StandardError, StringComparison.Ordinal);
    }
}
