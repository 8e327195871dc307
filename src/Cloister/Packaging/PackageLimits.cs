namespace Cloister;

/// <summary>
/// Limits a <c>.cloister</c> package must respect; checked before anything is extracted and again while reading,
/// so a package that lies about its sizes is stopped too.
/// </summary>
public sealed class PackageLimits
{
    /// <summary>Largest package file, in bytes. Default 256 MiB.</summary>
    public long MaxPackageBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Largest total size of the extracted files, in bytes. Default 512 MiB.</summary>
    public long MaxTotalBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>Largest single extracted file, in bytes. Default 128 MiB.</summary>
    public long MaxFileBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>Most files in a package. Default 10,000.</summary>
    public int MaxFiles { get; set; } = 10_000;

    /// <summary>
    /// Highest uncompressed-to-compressed ratio accepted for a file over 1 MiB; beyond it the package is treated as a
    /// compression bomb. Default 200 (assemblies compress about 2–4×).
    /// </summary>
    public int MaxCompressionRatio { get; set; } = 200;

    internal void Validate()
    {
        Check(MaxPackageBytes > 0, nameof(MaxPackageBytes));
        Check(MaxTotalBytes > 0, nameof(MaxTotalBytes));
        Check(MaxFileBytes > 0, nameof(MaxFileBytes));
        Check(MaxFiles > 0, nameof(MaxFiles));
        Check(MaxCompressionRatio > 0, nameof(MaxCompressionRatio));

        static void Check(bool ok, string name)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(name, $"{nameof(PackageLimits)}.{name} must be greater than zero.");
            }
        }
    }
}
