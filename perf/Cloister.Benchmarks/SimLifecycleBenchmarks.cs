using BenchmarkDotNet.Attributes;

namespace Cloister.Benchmarks;

/// <summary>
/// An enclave's whole life on the sim backend: verify and extract the package, load its assemblies in a fresh
/// collectible context, Initialize, one EnterAndRun, Finalize and unload. Uses examples/HelloEnclave when it was
/// built alongside, the bench enclave otherwise (the setup says which).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class SimLifecycleBenchmarks
{
    private readonly EnclaveInput _input = new() { Text = "bench" };
    private string _workDirectory = null!;
    private string _package = null!;
    private EnclaveManager _manager = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _workDirectory = BenchEnclaves.CreateWorkDirectory();
        var enclave = BenchEnclaves.Find(BenchEnclaves.Hello) is null ? BenchEnclaves.Bench : BenchEnclaves.Hello;
        Console.WriteLine($"// SimLoadInitCallDestroy uses the {enclave} enclave.");
        _package = await BenchEnclaves.PackAsync(enclave, _workDirectory);
        // HelloEnclave greets on the host console through a host call; the call is measured, the text is dropped.
        _manager = new EnclaveManager(new EnclaveManagerOptions { ConsoleOut = TextWriter.Null });
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _manager.DisposeAsync();
        Directory.Delete(_workDirectory, recursive: true);
    }

    /// <summary>Load + Initialize + first call + Destroy of one package. Target: under 50 ms.</summary>
    [Benchmark]
    public async Task<EnclaveOutput> SimLoadInitCallDestroy()
    {
        var client = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "lifecycle", PackagePath = _package });
        try
        {
            return await client.EnterAndRunAsync(_input);
        }
        finally
        {
            await _manager.DestroyEnclaveAsync(client);
        }
    }
}
