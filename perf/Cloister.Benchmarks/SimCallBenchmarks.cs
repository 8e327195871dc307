using BenchmarkDotNet.Attributes;

namespace Cloister.Benchmarks;

/// <summary>
/// Calls into an enclave already loaded on the sim backend. The floor is a plain call of a delegate doing the same
/// echo, in the same run: the ratio is what Cloister's dispatch adds.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class SimCallBenchmarks
{
    private static readonly EntryPointHandler s_echo = static (payload, _) => ValueTask.FromResult(payload);

    private readonly ReadOnlyMemory<byte> _payload64 = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
    private readonly EnclaveInput _input = new() { Text = "bench" };
    private EntryPointHandler _floor = null!;
    private string _workDirectory = null!;
    private EnclaveManager _manager = null!;
    private EnclaveClient _client = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _floor = s_echo;
        _workDirectory = BenchEnclaves.CreateWorkDirectory();
        var package = await BenchEnclaves.PackAsync(BenchEnclaves.Bench, _workDirectory);
        _manager = new EnclaveManager();
        _manager.HostCalls.Register(BenchSelectors.HostEcho, static (_, payload, _) => ValueTask.FromResult(payload));
        _client = await _manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "bench", PackagePath = package });

        // Fail here, not with a misleading figure, if an entry point does not echo.
        var reply = await _client.InvokeAsync(BenchSelectors.HostCall, _payload64);
        if (!reply.Span.SequenceEqual(_payload64.Span))
        {
            throw new InvalidOperationException("bench.hostcall did not echo its payload.");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _manager.DisposeAsync();
        Directory.Delete(_workDirectory, recursive: true);
    }

    /// <summary>The floor: the same echo as a direct delegate call, no enclave.</summary>
    [Benchmark(Baseline = true)]
    public ValueTask<ReadOnlyMemory<byte>> Floor_DelegateCall_64B() => _floor(_payload64, CancellationToken.None);

    /// <summary>One custom entry call that echoes 64 bytes. Target: under 1 µs, no allocation.</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> SimEntryCall_64B() => _client.InvokeAsync(BenchSelectors.Echo, _payload64);

    /// <summary>One entry call that makes one host call; minus <see cref="SimEntryCall_64B"/>, the host call's cost.</summary>
    [Benchmark]
    public ValueTask<ReadOnlyMemory<byte>> SimHostCall_64B() => _client.InvokeAsync(BenchSelectors.HostCall, _payload64);

    /// <summary>EnterAndRun with a small text input: serializes the input, parses it in the enclave, and the output back.</summary>
    [Benchmark]
    public ValueTask<EnclaveOutput> SimEnterAndRun() => _client.EnterAndRunAsync(_input);
}
