namespace Cloister.Perf.Remote;

/// <summary>The enclaves the build copied into <c>enclaves/</c> next to this program (build/EnclaveOutput.targets).</summary>
internal static class EnclaveFolders
{
    /// <summary>The bench enclave: <c>bench.echo</c> and <c>bench.hostcall</c>.</summary>
    public const string Bench = "BenchEnclave";

    /// <summary>The repository's example, present when examples/HelloEnclave existed at build time.</summary>
    public const string Hello = "HelloEnclave";

    public static bool Exists(string folderName) => Directory.Exists(PathOf(folderName));

    /// <summary>Packs enclave <paramref name="folderName"/> into <paramref name="workDirectory"/> and returns the package's path.</summary>
    public static async Task<string> PackAsync(string folderName, string workDirectory, CancellationToken cancellationToken)
    {
        var source = PathOf(folderName);
        if (!Directory.Exists(source))
        {
            throw new DirectoryNotFoundException($"Enclave '{folderName}' was not built into {source}; build perf/Cloister.Perf (dotnet run does).");
        }

        var package = Path.Combine(workDirectory, folderName + EnclavePackage.FileExtension);
        await EnclavePackage.CreateAsync(source, package, cancellationToken: cancellationToken);
        return package;
    }

    private static string PathOf(string folderName) => Path.Combine(AppContext.BaseDirectory, "enclaves", folderName);
}
