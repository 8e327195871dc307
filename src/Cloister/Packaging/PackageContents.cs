namespace Cloister;

/// <summary>What verifying a package established: its manifest, measurement and files.</summary>
/// <param name="Manifest">The package's manifest.</param>
/// <param name="Measurement">The SHA-256 measurement, lowercase hex.</param>
/// <param name="Files">The package-relative paths of its files (manifest included), in measurement order.</param>
public sealed record PackageContents(PackageManifest Manifest, string Measurement, IReadOnlyList<string> Files);
