using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Cloister.Tests;

/// <summary>
/// Every kind of bad package fails its load with a clear <see cref="EnclaveException"/>, before any of its code runs,
/// leaves no extracted files behind, and leaves the manager and its other enclaves working.
/// </summary>
public sealed class BadPackageTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    private static readonly string ExtractionRoot = Path.Combine(Path.GetTempPath(), "cloister", "enclaves");
    private readonly TempFolder _folder = new();
    private EnclaveManager _manager = null!;
    private EnclaveClient _bystander = null!;

    public async ValueTask InitializeAsync()
    {
        _manager = new EnclaveManager(new EnclaveManagerOptions
        {
            PackageLimits = new PackageLimits { MaxPackageBytes = 4 * 1024 * 1024, MaxFileBytes = 3 * 1024 * 1024, MaxTotalBytes = 6 * 1024 * 1024 },
        });
        _bystander = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "bystander", PackagePath = enclave.PackagePath });
    }

    public async ValueTask DisposeAsync()
    {
        await _manager.DisposeAsync();
        _folder.Dispose();
    }

    public static TheoryData<string, EnclaveStatusCode, string> Cases => new()
    {
        { "garbage", EnclaveStatusCode.InvalidArgument, "not a zip archive" },
        { "truncated", EnclaveStatusCode.InvalidArgument, "is not valid" },
        { "dot-dot", EnclaveStatusCode.InvalidArgument, "escapes the package folder" },
        { "absolute", EnclaveStatusCode.InvalidArgument, "absolute path" },
        { "backslash", EnclaveStatusCode.InvalidArgument, "uses '\\' as a separator" },
        { "over-cap", EnclaveStatusCode.InvalidArgument, "PackageLimits.MaxPackageBytes" },
        { "file-over-cap", EnclaveStatusCode.InvalidArgument, "PackageLimits.MaxFileBytes" },
        { "bomb", EnclaveStatusCode.InvalidArgument, "compression bomb" },
        { "no-manifest", EnclaveStatusCode.InvalidArgument, "has no cloister-manifest.json" },
        { "bad-manifest", EnclaveStatusCode.InvalidArgument, "cloister-manifest.json is not valid" },
        { "no-entry-type", EnclaveStatusCode.InvalidArgument, "names no entry type" },
        { "unknown-entry-type", EnclaveStatusCode.NotFound, "Cloister.TestEnclave.Missing" },
        { "not-an-application", EnclaveStatusCode.InvalidArgument, "does not derive from Cloister.TrustedApplication" },
        { "entry-assembly-missing", EnclaveStatusCode.InvalidArgument, "entry assembly 'Nope.dll' is not in the package" },
        { "not-an-assembly", EnclaveStatusCode.InvalidArgument, "is not a .NET assembly" },
        { "duplicate", EnclaveStatusCode.InvalidArgument, "appears twice" },
        { "missing-file", EnclaveStatusCode.NotFound, "does not exist" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_package_fails_clearly_and_loses_nothing(string kind, EnclaveStatusCode code, string expected)
    {
        var path = await MakeAsync(kind);
        var before = ExtractedFolders();

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = kind, PackagePath = path }).AsTask());

        Assert.Equal(code, ex.StatusCode);
        Assert.Contains(expected, ex.Message);
        Assert.Null(_manager.GetClient(kind));
        Assert.DoesNotContain(ExtractedFolders().Except(before), f => Path.GetFileName(f).StartsWith(kind, StringComparison.Ordinal));
        Assert.Equal("still serving", (await _bystander.EnterAndRunAsync(new EnclaveInput { Text = "still serving" })).Text);

        // The name was never taken: a good package loads under it.
        var good = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = kind, PackagePath = enclave.PackagePath });
        await _manager.DestroyEnclaveAsync(good);
    }

    [Fact]
    public async Task Missing_name_or_path_or_unknown_backend_are_InvalidArgument()
    {
        var noName = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(new EnclaveLoadConfig { PackagePath = enclave.PackagePath }).AsTask());
        Assert.Equal(EnclaveStatusCode.InvalidArgument, noName.StatusCode);
        Assert.Contains("name is required", noName.Message);

        var noPath = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "x" }).AsTask());
        Assert.Contains("package_path is required", noPath.Message);

        var backend = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "x", PackagePath = enclave.PackagePath, Backend = "sgx" }).AsTask());
        Assert.Equal(EnclaveStatusCode.InvalidArgument, backend.StatusCode);
        Assert.Contains("Unknown backend 'sgx'", backend.Message);
        Assert.Contains("sim", backend.Message);
    }

    [Fact]
    public async Task Malformed_expected_measurement_is_InvalidArgument()
    {
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(
            new EnclaveLoadConfig { Name = "m", PackagePath = enclave.PackagePath, ExpectedMeasurement = "abc" }).AsTask());
        Assert.Equal(EnclaveStatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("64 hex digits", ex.Message);
    }

    private static string[] ExtractedFolders() => Directory.Exists(ExtractionRoot) ? Directory.GetDirectories(ExtractionRoot) : [];

    private async Task<string> MakeAsync(string kind)
    {
        var path = _folder.File($"{kind}.cloister");
        var manifest = new Dictionary<string, string>
        {
            ["formatVersion"] = "1",
            ["name"] = "\"test\"",
            ["entryAssembly"] = "\"Cloister.TestEnclave.dll\"",
            ["entryType"] = "\"Cloister.TestEnclave.TestApplication\"",
        };
        var extra = new List<(string Name, byte[] Content, CompressionLevel Level)>();
        var includeManifest = true;
        string? manifestText = null;
        switch (kind)
        {
            case "garbage":
                await File.WriteAllBytesAsync(path, Encoding.UTF8.GetBytes("this is not a zip file at all, just text"));
                return path;
            case "truncated":
                var good = await File.ReadAllBytesAsync(enclave.PackagePath);
                await File.WriteAllBytesAsync(path, good[..(good.Length / 2)]);
                return path;
            case "missing-file":
                return _folder.File("nowhere.cloister");
            case "dot-dot": extra.Add(("../evil.dll", [1], CompressionLevel.Optimal)); break;
            case "absolute": extra.Add(("/tmp/evil.dll", [1], CompressionLevel.Optimal)); break;
            case "backslash": extra.Add(("sub\\evil.dll", [1], CompressionLevel.Optimal)); break;
            case "over-cap": extra.Add(("big.bin", RandomNumberGenerator.GetBytes(5 * 1024 * 1024), CompressionLevel.NoCompression)); break;
            case "file-over-cap": extra.Add(("big.bin", RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 1), CompressionLevel.NoCompression)); break;
            case "bomb": extra.Add(("zeros.bin", new byte[2 * 1024 * 1024], CompressionLevel.SmallestSize)); break;
            case "duplicate": extra.Add(("Cloister.TestEnclave.DLL", [1], CompressionLevel.Optimal)); break;
            case "no-manifest": includeManifest = false; break;
            case "bad-manifest": manifestText = "{ this is not json"; break;
            case "no-entry-type": manifest.Remove("entryType"); break;
            case "unknown-entry-type": manifest["entryType"] = "\"Cloister.TestEnclave.Missing\""; break;
            case "not-an-application": manifest["entryType"] = "\"Cloister.TestEnclave.NotAnApplication\""; break;
            case "entry-assembly-missing": manifest["entryAssembly"] = "\"Nope.dll\""; break;
            case "not-an-assembly":
                manifest["entryAssembly"] = "\"Fake.dll\"";
                extra.Add(("Fake.dll", Encoding.UTF8.GetBytes("MZ but not really"), CompressionLevel.Optimal));
                break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }

        manifestText ??= "{" + string.Join(",", manifest.Select(p => $"\"{p.Key}\":{p.Value}")) + "}";
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var file in Directory.GetFiles(enclave.BuildOutput))
        {
            zip.CreateEntryFromFile(file, Path.GetFileName(file));
        }

        if (includeManifest)
        {
            await using var stream = zip.CreateEntry(EnclavePackage.ManifestFileName).Open();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(manifestText));
        }

        foreach (var (name, content, level) in extra)
        {
            await using var stream = zip.CreateEntry(name, level).Open();
            await stream.WriteAsync(content);
        }

        return path;
    }
}
