using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Cloister.Tests;

public sealed class PackageTests(TestEnclaveFixture enclave)
{
    [Fact]
    public async Task Packing_twice_gives_the_same_measurement_and_the_same_bytes()
    {
        using var folder = new TempFolder();
        var first = await EnclavePackage.CreateAsync(enclave.BuildOutput, folder.File("a.cloister"));
        var second = await EnclavePackage.CreateAsync(enclave.BuildOutput, folder.File("b.cloister"));

        Assert.Equal(first.Measurement, second.Measurement);
        Assert.Equal(enclave.Measurement, first.Measurement);
        Assert.Matches("^[0-9a-f]{64}$", first.Measurement);
        Assert.Equal(await File.ReadAllBytesAsync(folder.File("a.cloister")), await File.ReadAllBytesAsync(folder.File("b.cloister")));
        Assert.Equal(first.Measurement, await EnclavePackage.MeasureAsync(folder.File("a.cloister")));
    }

    [Fact]
    public async Task Changing_one_byte_changes_the_measurement()
    {
        using var folder = new TempFolder();
        var copy = Path.Combine(folder.Path, "src");
        CopyFolder(enclave.BuildOutput, copy);
        var pdb = Path.Combine(copy, "Cloister.TestEnclave.pdb");
        var bytes = await File.ReadAllBytesAsync(pdb);
        bytes[^1] ^= 0x01;
        await File.WriteAllBytesAsync(pdb, bytes);

        var changed = await EnclavePackage.CreateAsync(copy, folder.File("changed.cloister"));
        Assert.NotEqual(enclave.Measurement, changed.Measurement);
    }

    [Fact]
    public async Task Manifest_names_the_entry_point_found_by_discovery()
    {
        var contents = await EnclavePackage.VerifyAsync(enclave.PackagePath);
        Assert.Equal("Cloister.TestEnclave.TestApplication", contents.Manifest.EntryType);
        Assert.Equal("Cloister.TestEnclave.dll", contents.Manifest.EntryAssembly);
        Assert.Equal("Cloister.TestEnclave", contents.Manifest.Name);
        Assert.Equal(".NETCoreApp,Version=v10.0", contents.Manifest.TargetFramework);
        Assert.Contains(EnclavePackage.ManifestFileName, contents.Files);
        Assert.Equal(contents.Files.Order(StringComparer.Ordinal), contents.Files);
    }

    [Fact]
    public async Task Measurement_is_the_documented_canonical_listing_whatever_the_zip_order_or_timestamps()
    {
        using var folder = new TempFolder();
        var manifest = """{"formatVersion":1,"name":"x","entryAssembly":"b/x.dll","entryType":"X"}"""u8.ToArray();
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["b/x.dll"] = [1, 2, 3],
            ["a.txt"] = Encoding.UTF8.GetBytes("hello"),
            [EnclavePackage.ManifestFileName] = manifest,
        };

        // Written in reverse order with odd timestamps: neither may matter.
        var path = folder.File("handmade.cloister");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var (name, content) in files.Reverse())
            {
                var entry = zip.CreateEntry(name);
                entry.LastWriteTime = new DateTimeOffset(2021, 5, 6, 7, 8, 9, TimeSpan.Zero);
                using var stream = entry.Open();
                stream.Write(content);
            }
        }

        // The format, spelled out: header, then per file in ordinal path order: UTF-8 path, 0x00, size (uint64 BE), bytes.
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        expected.AppendData("cloister-measurement-v1\n"u8);
        foreach (var (name, content) in files)
        {
            expected.AppendData(Encoding.UTF8.GetBytes(name));
            var header = new byte[9];
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(1), (ulong)content.Length);
            expected.AppendData(header);
            expected.AppendData(content);
        }

        Assert.Equal(Convert.ToHexStringLower(expected.GetHashAndReset()), await EnclavePackage.MeasureAsync(path));
    }

    [Fact]
    public async Task Packing_a_folder_without_an_application_names_the_problem_and_writes_nothing()
    {
        using var folder = new TempFolder();
        var source = Path.Combine(folder.Path, "src");
        Directory.CreateDirectory(source);
        File.Copy(typeof(PackageTests).Assembly.Location, Path.Combine(source, "Cloister.Tests.dll"));
        await File.WriteAllTextAsync(Path.Combine(source, "Cloister.Tests.deps.json"), "{}");

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => EnclavePackage.CreateAsync(source, folder.File("none.cloister")));
        Assert.Equal(EnclaveStatusCode.NotFound, ex.StatusCode);
        Assert.Contains("TrustedApplication", ex.Message);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    internal static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
