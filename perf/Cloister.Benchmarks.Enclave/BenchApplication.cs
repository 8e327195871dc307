namespace Cloister.Benchmarks.Enclave;

/// <summary>
/// The benchmarks' enclave. Its entry points do no work of their own, so a benchmark of them measures the
/// cost of crossing into the enclave (and back out to the host), nothing else.
/// </summary>
public sealed class BenchApplication : TrustedApplication
{
    /// <inheritdoc />
    public override ValueTask InitializeAsync(EnclaveConfig config, CancellationToken cancellationToken)
    {
        // A static lambda: the delegate is cached, so the echo itself allocates nothing.
        RegisterEntryPoint(BenchSelectors.Echo, static (payload, _) => ValueTask.FromResult(payload));
        RegisterEntryPoint(BenchSelectors.HostCall, (payload, ct) => Host.InvokeAsync(BenchSelectors.HostEcho, payload, ct));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override ValueTask<EnclaveOutput> RunAsync(EnclaveInput input, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new EnclaveOutput { Text = input.Text });
}
