namespace Cloister.Benchmarks;

/// <summary>
/// Finds the enclaves the build copied into <c>enclaves/</c> next to this program (build/EnclaveOutput.targets) and packs
/// them. BenchmarkDotNet runs each benchmark from a generated project in a sub-folder of this program's output, so
/// the folder is looked for upwards from the running program too.
/// </summary>
internal static class BenchEnclaves
{
    /// <summary>The bench enclave's folder name under <c>enclaves/</c>.</summary>
    public const string Bench = "BenchEnclave";

    /// <summary>The repository example's folder name, present when examples/HelloEnclave existed at build time.</summary>
    public const string Hello = "HelloEnclave";

    /// <summary>The build output of enclave <paramref name="folderName"/>, or <see langword="null"/> when it was not built.</summary>
    public static string? Find(string folderName)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "enclaves", folderName);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Packs enclave <paramref name="folderName"/> into a package in <paramref name="workDirectory"/> and returns its path.</summary>
    public static async Task<string> PackAsync(string folderName, string workDirectory)
    {
        var source = Find(folderName)
            ?? throw new InvalidOperationException($"Enclave '{folderName}' was not found in an 'enclaves' folder above {AppContext.BaseDirectory}; build perf/Cloister.Benchmarks first.");
        var packagePath = Path.Combine(workDirectory, folderName + EnclavePackage.FileExtension);
        await EnclavePackage.CreateAsync(source, packagePath);
        return packagePath;
    }

    /// <summary>A fresh temporary folder for packages.</summary>
    public static string CreateWorkDirectory() =>
        Directory.CreateTempSubdirectory("cloister-bench-").FullName;
}
