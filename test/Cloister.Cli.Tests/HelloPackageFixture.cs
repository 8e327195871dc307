namespace Cloister.Cli.Tests;

/// <summary>The HelloEnclave example packed once with <c>cloister pack</c>, shared by the tests that run it.</summary>
public sealed class HelloPackageFixture : IAsyncLifetime
{
    private readonly TemporaryFolder _folder = new();

    public string PackagePath => _folder.File("hello.cloister");

    public string Measurement { get; private set; } = string.Empty;

    public async ValueTask InitializeAsync()
    {
        var pack = await CloisterProcess.RunAsync("pack", TestPaths.HelloEnclaveOutput, "-o", PackagePath);
        Assert.True(pack.ExitCode == 0, pack.ToString());
        Measurement = MeasureOutput.Parse(await CloisterProcess.RunAsync("measure", PackagePath));
    }

    public ValueTask DisposeAsync()
    {
        _folder.Dispose();
        return ValueTask.CompletedTask;
    }
}
