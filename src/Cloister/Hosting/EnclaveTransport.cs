namespace Cloister;

/// <summary>
/// A backend's connection to one enclave: carries entry calls in and, through
/// <see cref="EnclaveOpenRequest.DispatchHostCallAsync"/>, host calls out. Disposing it tears the enclave down.
/// </summary>
public abstract class EnclaveTransport : IAsyncDisposable
{
    /// <summary>The SHA-256 measurement (lowercase hex) of the package the enclave was loaded from.</summary>
    public abstract string Measurement { get; }

    /// <summary>Sends one entry call. Errors are <see cref="EnclaveException"/>s.</summary>
    /// <param name="selector">The entry point.</param>
    /// <param name="payload">The request bytes.</param>
    /// <param name="deadline">When set (UTC), the call fails with <see cref="EnclaveStatusCode.DeadlineExceeded"/> after it,
    /// and the enclave's token is cancelled where the enclave runs.</param>
    /// <param name="cancellationToken">Cancels the call and the enclave's token.</param>
    public abstract ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, DateTime? deadline, CancellationToken cancellationToken);

    /// <summary>
    /// True when the transport measures its entry calls itself (<see cref="CallTelemetry"/>), so that the client does not
    /// wrap each call in another async method to measure it.
    /// </summary>
    internal virtual bool ObservesCalls => false;

    /// <summary>Tears the enclave down and releases what the transport owns (load context, process, files).</summary>
    public abstract ValueTask DisposeAsync();
}
