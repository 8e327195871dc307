using BenchmarkDotNet.Attributes;

namespace Cloister.Benchmarks;

/// <summary>
/// Package verification and measurement (read the zip, check it, SHA-256 over the canonical listing), without
/// extracting: the part of every load that runs before any enclave code.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class PackageBenchmarks
{
    private string _workDirectory = null!;
    private string _package = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _workDirectory = BenchEnclaves.CreateWorkDirectory();
        var enclave = BenchEnclaves.Find(BenchEnclaves.Hello) is null ? BenchEnclaves.Bench : BenchEnclaves.Hello;
        _package = await BenchEnclaves.PackAsync(enclave, _workDirectory);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_workDirectory, recursive: true);

    /// <summary>Verify + measure the package SimLoadInitCallDestroy loads.</summary>
    [Benchmark]
    public Task<PackageContents> PackageVerify() => EnclavePackage.VerifyAsync(_package);
}
