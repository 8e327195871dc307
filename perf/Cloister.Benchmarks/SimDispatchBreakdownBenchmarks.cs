using BenchmarkDotNet.Attributes;

namespace Cloister.Benchmarks;

/// <summary>
/// Where the time of a sim entry call goes, layer by layer (uses Cloister's internals, which it exposes to this
/// assembly): the runtime's dispatch alone, then the transport, then the public client; and the same call with a
/// cancellable token, the path every caller that passes a real token takes, and with a deadline.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class SimDispatchBreakdownBenchmarks
{
    private readonly ReadOnlyMemory<byte> _payload64 = new byte[64];
    private readonly CancellationTokenSource _cancellation = new();
    private string _workDirectory = null!;
    private EnclaveManager _manager = null!;
    private EnclaveClient _client = null!;
    private EnclaveTransport _transport = null!;
    private EnclaveRuntime _runtime = null!;
    private EnclaveContext _context = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _workDirectory = BenchEnclaves.CreateWorkDirectory();
        var package = await BenchEnclaves.PackAsync(BenchEnclaves.Bench, _workDirectory);
        _manager = new EnclaveManager();
        _client = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "breakdown", PackagePath = package });
        _transport = _client.Transport!;
        _runtime = ((SimTransport)_transport).Enclave.Runtime;
        _context = _runtime.Application.Context;
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _manager.DisposeAsync();
        _cancellation.Dispose();
        Directory.Delete(_workDirectory, recursive: true);
    }

    /// <summary>The selector lookup alone (the entry-point table).</summary>
    [Benchmark]
    public bool EntryPointLookup() => _context.TryGetEntryPoint(BenchSelectors.Echo, out _);

    /// <summary><c>EnclaveRuntime.InvokeAsync</c>: state check, lookup, <c>InvokeEntryPointAsync</c>, handler.</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> Runtime_Echo() => _runtime.InvokeAsync(BenchSelectors.Echo, _payload64, CancellationToken.None);

    /// <summary>Adds the sim transport (a virtual call).</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> Transport_Echo() => _transport.InvokeAsync(BenchSelectors.Echo, _payload64, deadline: null, CancellationToken.None);

    /// <summary>Adds the public client's checks: the same call as <c>SimEntryCall_64B</c>.</summary>
    [Benchmark(Baseline = true)]
    public ValueTask<ReadOnlyMemory<byte>> Client_Echo() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>The same call with a token that can be cancelled (never is): the runtime links it to the enclave's lifetime.</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> Client_Echo_CancellableToken() => _client.InvokeAsync(BenchSelectors.Echo, _payload64, _cancellation.Token);

    /// <summary>The same call with a deadline (30 s, never reached), as gRPC-style callers make it.</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> Client_Echo_Deadline() => _client.InvokeAsync(BenchSelectors.Echo, _payload64, EnclaveCallOptions.WithTimeout(TimeSpan.FromSeconds(30)));
}
