using System.IO.Compression;
using System.Reflection;
using System.Text.Json;

namespace Cloister;

/// <summary>
/// The <c>.cloister</c> package: a zip of an enclave's publish output with a manifest. Its measurement is the
/// SHA-256 of a canonical listing of its files (sorted paths, sizes, contents), so byte-identical inputs give the
/// same measurement on any machine, whatever the zip's timestamps or order.
/// </summary>
public static class EnclavePackage
{
    /// <summary>The file extension of packages.</summary>
    public const string FileExtension = ".cloister";

    /// <summary>The manifest's path inside a package.</summary>
    public const string ManifestFileName = "cloister-manifest.json";

    // Zip timestamps are not measured, but a fixed one makes the package file itself reproducible too.
    private static readonly DateTimeOffset FixedTimestamp = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Packs the publish output in <paramref name="sourceDirectory"/> into <paramref name="packagePath"/>.
    /// The package is written to a temporary file and moved into place, so a failure leaves nothing half-written.
    /// </summary>
    /// <returns>The verified contents of the written package, with its measurement.</returns>
    /// <exception cref="EnclaveException">The folder is missing or empty, or no single <see cref="TrustedApplication"/> subclass is found.</exception>
    public static async Task<PackageContents> CreateAsync(string sourceDirectory, string packagePath, PackageCreateOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceDirectory);
        ArgumentException.ThrowIfNullOrEmpty(packagePath);
        options ??= new PackageCreateOptions();
        if (!Directory.Exists(sourceDirectory))
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"Folder '{sourceDirectory}' does not exist; pack the output of `dotnet publish` of your enclave project.");
        }

        var outputFull = Path.GetFullPath(packagePath);
        var files = Directory.EnumerateFiles(sourceDirectory, "*", SearchOption.AllDirectories)
            .Select(f => (Full: Path.GetFullPath(f), Relative: Path.GetRelativePath(sourceDirectory, f).Replace(Path.DirectorySeparatorChar, '/')))
            .Where(f => f.Full != outputFull && !f.Relative.EndsWith(FileExtension, StringComparison.OrdinalIgnoreCase) && f.Relative != ManifestFileName)
            .OrderBy(f => f.Relative, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"Folder '{sourceDirectory}' is empty; pack the output of `dotnet publish` of your enclave project.");
        }

        foreach (var file in files)
        {
            if (PackagePaths.Validate(file.Relative) is { } problem)
            {
                throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"File '{file.Relative}' cannot go into a package: it {problem}.");
            }
        }

        var entry = EntryPointDiscovery.Discover(sourceDirectory, options.EntryAssembly, options.EntryType);
        var manifest = new PackageManifest
        {
            Name = options.Name ?? Path.GetFileNameWithoutExtension(entry.AssemblyFile),
            EntryAssembly = entry.AssemblyFile,
            EntryType = entry.TypeName,
            TargetFramework = entry.TargetFramework,
            CloisterVersion = typeof(EnclavePackage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0],
        };
        var manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, PackageManifestJsonContext.Default.PackageManifest);

        var directory = Path.GetDirectoryName(outputFull)!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(outputFull)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(directory);
            await WriteZipAsync(temporary, files, manifestBytes, cancellationToken).ConfigureAwait(false);
            var contents = await PackageReader.ReadAsync(temporary, options.Limits, extractTo: null, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, outputFull, overwrite: true);
            return contents;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EnclaveException(ex is UnauthorizedAccessException ? EnclaveStatusCode.PermissionDenied : EnclaveStatusCode.FailedPrecondition,
                $"Cannot write package '{packagePath}': {ex.Message} Check that its folder exists and is writable.", ex);
        }
        finally
        {
            TryDelete(temporary);
        }
    }

    /// <summary>
    /// Verifies a package (format, limits, paths, manifest) without running or extracting anything,
    /// and returns its manifest and measurement.
    /// </summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.NotFound"/> or <see cref="EnclaveStatusCode.InvalidArgument"/>, naming the problem.</exception>
    public static Task<PackageContents> VerifyAsync(string packagePath, PackageLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(packagePath);
        return PackageReader.ReadAsync(packagePath, limits ?? new PackageLimits(), extractTo: null, cancellationToken);
    }

    /// <summary>The package's SHA-256 measurement, lowercase hex (64 characters).</summary>
    public static async Task<string> MeasureAsync(string packagePath, PackageLimits? limits = null, CancellationToken cancellationToken = default) =>
        (await VerifyAsync(packagePath, limits, cancellationToken).ConfigureAwait(false)).Measurement;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Nothing was written there, or it cannot be removed; the package itself was not written either way.
        }
    }

    private static async Task WriteZipAsync(string path, List<(string Full, string Relative)> files, byte[] manifestBytes, CancellationToken cancellationToken)
    {
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            var archive = await ZipArchive.CreateAsync(stream, ZipArchiveMode.Create, leaveOpen: false, entryNameEncoding: null, cancellationToken).ConfigureAwait(false);
            await using (archive.ConfigureAwait(false))
            {
                var all = files.Select(f => (f.Relative, Source: (string?)f.Full))
                    .Append((Relative: ManifestFileName, Source: null))
                    .OrderBy(f => f.Relative, StringComparer.Ordinal);
                foreach (var (relative, source) in all)
                {
                    var entry = archive.CreateEntry(relative, CompressionLevel.Optimal);
                    entry.LastWriteTime = FixedTimestamp;
                    entry.ExternalAttributes = 0;
                    var output = await entry.OpenAsync(cancellationToken).ConfigureAwait(false);
                    await using (output.ConfigureAwait(false))
                    {
                        if (source is null)
                        {
                            await output.WriteAsync(manifestBytes, cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
                            await using (input.ConfigureAwait(false))
                            {
                                await input.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }
                }
            }
        }
    }
}
