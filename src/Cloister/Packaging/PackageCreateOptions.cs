namespace Cloister;

/// <summary>How <see cref="EnclavePackage.CreateAsync"/> builds a package.</summary>
public sealed class PackageCreateOptions
{
    /// <summary>The application's name in the manifest. Default: the entry assembly's name.</summary>
    public string? Name { get; set; }

    /// <summary>
    /// The entry assembly's file name, relative to the source folder (e.g. <c>HelloEnclave.dll</c>).
    /// Default: the assembly named by the folder's single <c>*.deps.json</c>.
    /// </summary>
    public string? EntryAssembly { get; set; }

    /// <summary>
    /// The full name of the <see cref="TrustedApplication"/> subclass. Default: the one such public type in the entry assembly.
    /// </summary>
    public string? EntryType { get; set; }

    /// <summary>Limits the written package is checked against. Default: <see cref="PackageLimits"/>' defaults.</summary>
    public PackageLimits Limits { get; set; } = new();
}
