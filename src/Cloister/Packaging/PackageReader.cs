using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Cloister;

/// <summary>
/// Verifies a <c>.cloister</c> package and computes its measurement, optionally extracting it. Every check runs
/// before any enclave code can: format, sizes (declared and actual), compression ratio, path safety, manifest.
/// </summary>
internal static class PackageReader
{
    /// <summary>Prefix of the canonical listing that is hashed; changing the listing changes the version.</summary>
    private static readonly byte[] MeasurementHeader = "cloister-measurement-v1\n"u8.ToArray();
    private const int MaxManifestBytes = 64 * 1024;
    private const long RatioCheckThreshold = 1024 * 1024;

    public static async Task<PackageContents> ReadAsync(string packagePath, PackageLimits limits, string? extractTo, CancellationToken cancellationToken)
    {
        var file = new FileInfo(packagePath);
        if (!file.Exists)
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound, $"Enclave package '{packagePath}' does not exist. Create one with `cloister pack`.");
        }

        if (file.Length > limits.MaxPackageBytes)
        {
            throw Invalid(packagePath, $"it is {file.Length} bytes, over the limit of {limits.MaxPackageBytes} bytes (PackageLimits.MaxPackageBytes)");
        }

        var stream = new FileStream(packagePath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        await using var streamScope = stream.ConfigureAwait(false);
        ZipArchive archive;
        try
        {
            archive = await ZipArchive.CreateAsync(stream, ZipArchiveMode.Read, leaveOpen: true, entryNameEncoding: null, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw Invalid(packagePath, $"it is not a zip archive, or it is truncated ({ex.Message})", ex);
        }

        await using (archive.ConfigureAwait(false))
        {
            var entries = SelectEntries(packagePath, archive, limits);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(MeasurementHeader);
            byte[]? manifestBytes = null;
            var buffer = ArrayPool<byte>.Shared.Rent(81920);
            try
            {
                foreach (var entry in entries)
                {
                    AppendEntryHeader(hash, entry);
                    var isManifest = entry.FullName == EnclavePackage.ManifestFileName;
                    if (isManifest && entry.Length > MaxManifestBytes)
                    {
                        throw Invalid(packagePath, $"its manifest is {entry.Length} bytes, over the limit of {MaxManifestBytes}");
                    }

                    var destination = extractTo is null ? null : ExtractionPath(packagePath, extractTo, entry.FullName);
                    var content = await CopyEntryAsync(packagePath, entry, hash, destination, isManifest, buffer, cancellationToken).ConfigureAwait(false);
                    if (isManifest)
                    {
                        manifestBytes = content;
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            var files = entries.Select(e => e.FullName).ToArray();
            var manifest = ParseManifest(packagePath, manifestBytes, files);
            return new PackageContents(manifest, Convert.ToHexStringLower(hash.GetHashAndReset()), files);
        }
    }

    /// <summary>Checks names and declared sizes of every entry; returns the file entries in measurement order.</summary>
    private static List<ZipArchiveEntry> SelectEntries(string packagePath, ZipArchive archive, PackageLimits limits)
    {
        var entries = new List<ZipArchiveEntry>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        long total = 0;
        foreach (var entry in archive.Entries)
        {
            if (entry.FullName.EndsWith('/') && entry.Length == 0)
            {
                continue; // A folder entry: folders are implied by file paths and are not measured.
            }

            var problem = PackagePaths.Validate(entry.FullName);
            if (problem is not null)
            {
                throw Invalid(packagePath, $"entry '{entry.FullName}' {problem}");
            }

            if (!names.Add(entry.FullName))
            {
                throw Invalid(packagePath, $"entry '{entry.FullName}' appears twice (names are compared ignoring case)");
            }

            if (entries.Count == limits.MaxFiles)
            {
                throw Invalid(packagePath, $"it holds more than {limits.MaxFiles} files (PackageLimits.MaxFiles)");
            }

            if (entry.Length > limits.MaxFileBytes)
            {
                throw Invalid(packagePath, $"entry '{entry.FullName}' is {entry.Length} bytes, over the limit of {limits.MaxFileBytes} bytes (PackageLimits.MaxFileBytes)");
            }

            total += entry.Length;
            if (total > limits.MaxTotalBytes)
            {
                throw Invalid(packagePath, $"its files add up to more than {limits.MaxTotalBytes} bytes (PackageLimits.MaxTotalBytes)");
            }

            if (entry.Length > RatioCheckThreshold && entry.Length / Math.Max(entry.CompressedLength, 1) > limits.MaxCompressionRatio)
            {
                throw Invalid(packagePath, $"entry '{entry.FullName}' expands {entry.Length / Math.Max(entry.CompressedLength, 1)}x, over the limit of {limits.MaxCompressionRatio}x (PackageLimits.MaxCompressionRatio); it looks like a compression bomb");
            }

            entries.Add(entry);
        }

        entries.Sort((a, b) => string.CompareOrdinal(a.FullName, b.FullName));
        return entries;
    }

    private static void AppendEntryHeader(IncrementalHash hash, ZipArchiveEntry entry)
    {
        Span<byte> header = stackalloc byte[9];
        hash.AppendData(Encoding.UTF8.GetBytes(entry.FullName));
        header[0] = 0;
        BinaryPrimitives.WriteUInt64BigEndian(header[1..], (ulong)entry.Length);
        hash.AppendData(header);
    }

    private static async Task<byte[]?> CopyEntryAsync(string packagePath, ZipArchiveEntry entry, IncrementalHash hash, string? destination, bool keep, byte[] buffer, CancellationToken cancellationToken)
    {
        var kept = keep ? new MemoryStream((int)entry.Length) : null;
        FileStream? output = null;
        try
        {
            if (destination is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                // No FileStream buffer: the copy loop already writes through a pooled 80 KB buffer.
                output = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: true);
            }

            var input = await entry.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (input.ConfigureAwait(false))
            {
                long copied = 0;
                int read;
                while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    copied += read;
                    if (copied > entry.Length)
                    {
                        throw Invalid(packagePath, $"entry '{entry.FullName}' holds more bytes than its declared {entry.Length}");
                    }

                    hash.AppendData(buffer, 0, read);
                    kept?.Write(buffer, 0, read);
                    if (output is not null)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    }
                }

                if (copied != entry.Length)
                {
                    throw Invalid(packagePath, $"entry '{entry.FullName}' is truncated ({copied} of {entry.Length} bytes)");
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw Invalid(packagePath, $"entry '{entry.FullName}' is corrupt or truncated ({ex.Message})", ex);
        }
        finally
        {
            if (output is not null)
            {
                await output.DisposeAsync().ConfigureAwait(false);
            }
        }

        return kept?.ToArray();
    }

    private static string ExtractionPath(string packagePath, string root, string entryName)
    {
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.GetFullPath(Path.Combine(fullRoot, entryName));
        if (!full.StartsWith(fullRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw Invalid(packagePath, $"entry '{entryName}' would be written outside the extraction folder");
        }

        return full;
    }

    private static PackageManifest ParseManifest(string packagePath, byte[]? bytes, string[] files)
    {
        if (bytes is null)
        {
            throw Invalid(packagePath, $"it has no {EnclavePackage.ManifestFileName}; create packages with `cloister pack`");
        }

        PackageManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(bytes, PackageManifestJsonContext.Default.PackageManifest);
        }
        catch (JsonException ex)
        {
            throw Invalid(packagePath, $"its {EnclavePackage.ManifestFileName} is not valid ({ex.Message})", ex);
        }

        if (manifest is null)
        {
            throw Invalid(packagePath, $"its {EnclavePackage.ManifestFileName} is empty");
        }

        if (manifest.FormatVersion != PackageManifest.CurrentFormatVersion)
        {
            throw Invalid(packagePath, $"its manifest has format version {manifest.FormatVersion}, but this Cloister reads version {PackageManifest.CurrentFormatVersion}; repack it with this version of `cloister pack`");
        }

        if (string.IsNullOrWhiteSpace(manifest.EntryType))
        {
            throw Invalid(packagePath, "its manifest names no entry type (entryType); repack it with `cloister pack --entry-type <Namespace.Type>`");
        }

        if (string.IsNullOrWhiteSpace(manifest.EntryAssembly) || !files.Contains(manifest.EntryAssembly, StringComparer.Ordinal))
        {
            throw Invalid(packagePath, $"its manifest's entry assembly '{manifest.EntryAssembly}' is not in the package");
        }

        return manifest;
    }

    private static EnclaveException Invalid(string packagePath, string problem, Exception? inner = null) =>
        new(EnclaveStatusCode.InvalidArgument, $"Enclave package '{packagePath}' is not valid: {problem}.", inner);
}
