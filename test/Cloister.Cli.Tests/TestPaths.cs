using System.Reflection;

namespace Cloister.Cli.Tests;

/// <summary>Where the build put what the tests run; recorded by the project file as assembly metadata.</summary>
internal static class TestPaths
{
    /// <summary>The root of the repository.</summary>
    public static string RepositoryRoot { get; } = Existing(Metadata("RepositoryRoot"));

    /// <summary>The configuration the solution was built in (Debug, Release): what a test that packs must pack.</summary>
    public static string Configuration { get; } = Metadata("Configuration");

    /// <summary>The built <c>Cloister.Cli.dll</c>, the <c>cloister</c> tool.</summary>
    public static string CloisterCli { get; } = Existing(Metadata("CloisterCliPath"));

    /// <summary>The build output folder of examples/HelloEnclave.</summary>
    public static string HelloEnclaveOutput { get; } = Existing(Metadata("HelloEnclaveOutputDirectory"));

    private static string Metadata(string key) =>
        typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"The test assembly has no '{key}' metadata; build it with its project file.");

    private static string Existing(string path) =>
        File.Exists(path) || Directory.Exists(path)
            ? path
            : throw new InvalidOperationException($"'{path}' does not exist; build the solution before running the tests.");
}
