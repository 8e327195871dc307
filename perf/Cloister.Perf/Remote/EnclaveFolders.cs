namespace Cloister.Perf.Remote;

/// <summary>The enclaves the build copied into <c>enclaves/</c> next to this program (build/EnclaveOutput.targets).</summary>
internal static class EnclaveFolders
{
    /// <summary>The bench enclave: <c>bench.echo</c> and <c>bench.hostcall</c>.</summary>
    public const string Bench = "BenchEnclave";

    /// <summary>The repository's example, present when examples/HelloEnclave existed at build time.</summary>
    public const string Hello = "HelloEnclave";

    /// <summary>The Translator example's enclave, in the build output of its driver.</summary>
    public const string Translator = "TranslatorDriver/enclaves/Translator";

    /// <summary>The Translator example's driver program.</summary>
    public static string TranslatorDriver => Path.Combine(PathOf("TranslatorDriver"), "Translator.Driver.dll");

    public static bool Exists(string folderName) => Directory.Exists(PathOf(folderName));

    /// <summary>Packs enclave <paramref name="folderName"/> into <paramref name="workDirectory"/> and returns the package's path.</summary>
    public static async Task<string> PackAsync(string folderName, string workDirectory, CancellationToken cancellationToken)
    {
        var source = BuiltFolder(folderName);
        var package = Path.Combine(workDirectory, Path.GetFileName(folderName) + EnclavePackage.FileExtension);
        await EnclavePackage.CreateAsync(source, package, cancellationToken: cancellationToken);
        return package;
    }

    /// <summary>
    /// Packs enclave <paramref name="folderName"/> with one more file of <paramref name="fillerBytes"/> random (so
    /// incompressible) bytes: a real package of about that size. Returns the package's path.
    /// </summary>
    public static async Task<string> PackWithFillerAsync(string folderName, int fillerBytes, string workDirectory, CancellationToken cancellationToken)
    {
        var source = Path.Combine(workDirectory, $"{folderName}-filled");
        CopyFolder(BuiltFolder(folderName), source);
        var filler = GC.AllocateUninitializedArray<byte>(fillerBytes);
        Random.Shared.NextBytes(filler);
        await File.WriteAllBytesAsync(Path.Combine(source, "filler.bin"), filler, cancellationToken);

        var package = Path.Combine(workDirectory, $"{folderName}-{fillerBytes >> 20}MiB{EnclavePackage.FileExtension}");
        await EnclavePackage.CreateAsync(source, package, cancellationToken: cancellationToken);
        Directory.Delete(source, recursive: true);
        return package;
    }

    private static string BuiltFolder(string folderName)
    {
        var source = PathOf(folderName);
        return Directory.Exists(source)
            ? source
            : throw new DirectoryNotFoundException($"Enclave '{folderName}' was not built into {source}; build perf/Cloister.Perf (dotnet run does).");
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static string PathOf(string folderName) => Path.Combine(AppContext.BaseDirectory, "enclaves", folderName);
}
