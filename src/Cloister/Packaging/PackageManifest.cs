using System.Text.Json.Serialization;

namespace Cloister;

/// <summary>The manifest of a <c>.cloister</c> package (<c>cloister-manifest.json</c> at its root).</summary>
public sealed record PackageManifest
{
    /// <summary>The manifest format this Cloister writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>The manifest format version.</summary>
    [JsonPropertyName("formatVersion")]
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The enclave application's name (by default, its assembly name).</summary>
    [JsonPropertyName("name")]
    public string Name { get; init; } = string.Empty;

    /// <summary>The package-relative path of the assembly that holds the entry type, e.g. <c>HelloEnclave.dll</c>.</summary>
    [JsonPropertyName("entryAssembly")]
    public string EntryAssembly { get; init; } = string.Empty;

    /// <summary>The full name of the <see cref="TrustedApplication"/> subclass.</summary>
    [JsonPropertyName("entryType")]
    public string EntryType { get; init; } = string.Empty;

    /// <summary>The target framework the enclave was built for, e.g. <c>.NETCoreApp,Version=v10.0</c>.</summary>
    [JsonPropertyName("targetFramework")]
    public string? TargetFramework { get; init; }

    /// <summary>The version of Cloister that packed it.</summary>
    [JsonPropertyName("cloisterVersion")]
    public string? CloisterVersion { get; init; }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PackageManifest))]
internal sealed partial class PackageManifestJsonContext : JsonSerializerContext;
