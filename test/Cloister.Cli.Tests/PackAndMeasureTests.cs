namespace Cloister.Cli.Tests;

public sealed class PackAndMeasureTests : IDisposable
{
    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Pack_BuildOutputFolder_WritesPackageThatMeasureMeasures()
    {
        var package = _folder.File("hello.cloister");

        var pack = await CloisterProcess.RunAsync("pack", TestPaths.HelloEnclaveOutput, "-o", package);

        Assert.True(pack.ExitCode == 0, pack.ToString());
        Assert.True(File.Exists(package), pack.ToString());
        Assert.Contains("HelloEnclave.HelloApplication", pack.StandardOutput, StringComparison.Ordinal);

        var measure = await CloisterProcess.RunAsync("measure", package);

        Assert.True(measure.ExitCode == 0, measure.ToString());
        var measurement = MeasureOutput.Parse(measure);
        Assert.Contains($"measurement: {measurement}", pack.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pack_SameFolderTwice_GivesTheSameMeasurement()
    {
        var first = _folder.File("first.cloister");
        var second = _folder.File("second.cloister");

        Assert.Equal(0, (await CloisterProcess.RunAsync("pack", TestPaths.HelloEnclaveOutput, "-o", first)).ExitCode);
        Assert.Equal(0, (await CloisterProcess.RunAsync("pack", TestPaths.HelloEnclaveOutput, "-o", second)).ExitCode);

        var firstMeasurement = MeasureOutput.Parse(await CloisterProcess.RunAsync("measure", first));
        var secondMeasurement = MeasureOutput.Parse(await CloisterProcess.RunAsync("measure", second));
        Assert.Equal(firstMeasurement, secondMeasurement);
    }

    [Fact]
    public async Task Pack_ProjectFile_PublishesAndPacksIt()
    {
        var package = _folder.File("published.cloister");
        var project = Path.Combine(TestPaths.RepositoryRoot, "examples", "HelloEnclave", "HelloEnclave.csproj");

        // `dotnet publish -c Release` may have to build Cloister and the example from scratch (e.g. after a Debug-only build).
        var pack = await CloisterProcess.RunAsync(TimeSpan.FromMinutes(4), "pack", project, "-o", package);

        Assert.True(pack.ExitCode == 0, pack.ToString());
        Assert.Contains("HelloEnclave.HelloApplication", pack.StandardOutput, StringComparison.Ordinal);
        var run = await CloisterProcess.RunAsync("run", package, "--text", "published");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hello, published!", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pack_ProjectFolder_FailsNamingTheProjectFileToPass()
    {
        var projectFolder = Path.Combine(TestPaths.RepositoryRoot, "examples", "HelloEnclave");

        var pack = await CloisterProcess.RunAsync("pack", projectFolder, "-o", _folder.File("x.cloister"));

        Assert.Equal(1, pack.ExitCode);
        Assert.StartsWith("error: ", pack.StandardError, StringComparison.Ordinal);
        Assert.Contains("HelloEnclave.csproj", pack.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Measure_GarbageFile_FailsSayingItIsNotAPackage()
    {
        var garbage = _folder.File("garbage.cloister");
        await File.WriteAllTextAsync(garbage, "this is not a zip archive", TestContext.Current.CancellationToken);

        var measure = await CloisterProcess.RunAsync("measure", garbage);

        Assert.Equal(1, measure.ExitCode);
        Assert.Equal(string.Empty, measure.StandardOutput);
        Assert.StartsWith("error: ", measure.StandardError, StringComparison.Ordinal);
        Assert.Contains("is not valid: it is not a zip archive", measure.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", measure.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Measure_MissingFile_FailsSayingSo()
    {
        var measure = await CloisterProcess.RunAsync("measure", _folder.File("missing.cloister"));

        Assert.Equal(1, measure.ExitCode);
        Assert.Contains("does not exist", measure.StandardError, StringComparison.Ordinal);
    }
}
