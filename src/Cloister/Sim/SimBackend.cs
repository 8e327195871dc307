using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// The <c>sim</c> backend: the enclave runs in the host process, in a collectible load context of its own.
/// <b>It gives no isolation at all</b>: the host can read the enclave's memory. Use it for development and tests.
/// It says so once, as a warning, the first time it loads an enclave.
/// </summary>
public sealed partial class SimBackend : EnclaveBackend
{
    /// <summary>The backend's name, <c>sim</c>.</summary>
    public const string BackendName = "sim";

    private int _warned;

    /// <inheritdoc />
    public override string Name => BackendName;

    /// <inheritdoc />
    public override async ValueTask<EnclaveTransport> OpenAsync(EnclaveOpenRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var logger = request.LoggerFactory.CreateLogger<SimBackend>();
        if (Interlocked.Exchange(ref _warned, 1) == 0)
        {
            LogNoIsolation(logger);
        }

        var config = request.LoadConfig;
        var enclave = await LoadedEnclave.LoadAsync(request.Name, config.PackagePath, config.ExpectedMeasurement, config.Debug,
            request.PackageLimits, request.DispatchHostCallAsync, logger, cancellationToken).ConfigureAwait(false);
        return new SimTransport(enclave);
    }

    [LoggerMessage(10, LogLevel.Warning, "The sim backend runs enclaves inside the host process and gives NO isolation: the host can read and change the enclave's memory. Use it for development and tests only.")]
    private static partial void LogNoIsolation(ILogger logger);
}

/// <summary>Entry calls straight into the enclave's runtime: no copy, no serialization beyond the lifecycle messages.</summary>
internal sealed class SimTransport(LoadedEnclave enclave) : EnclaveTransport
{
    public LoadedEnclave Enclave => enclave;

    public override string Measurement => enclave.Measurement;

    public override ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken) =>
        deadline is null
            ? enclave.Runtime.InvokeAsync(selector, payload, cancellationToken)
            : InvokeWithDeadlineAsync(selector, payload, deadline.Value, cancellationToken);

    private async ValueTask<ReadOnlyMemory<byte>> InvokeWithDeadlineAsync(string selector, ReadOnlyMemory<byte> payload, DateTime deadline, CancellationToken cancellationToken)
    {
        using var expiry = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        expiry.CancelAfter(Max(deadline - DateTime.UtcNow, TimeSpan.Zero));
        try
        {
            return await enclave.Runtime.InvokeAsync(selector, payload, expiry.Token).ConfigureAwait(false);
        }
        catch (EnclaveException ex) when (ex.StatusCode == EnclaveStatusCode.Cancelled && !cancellationToken.IsCancellationRequested)
        {
            throw new EnclaveException(EnclaveStatusCode.DeadlineExceeded, $"Call '{selector}' to enclave '{enclave.Runtime.Name}' passed its deadline.", ex);
        }

        static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
    }

    public override ValueTask DisposeAsync() => enclave.DisposeAsync();
}
