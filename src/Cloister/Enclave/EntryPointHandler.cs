namespace Cloister;

/// <summary>
/// Handles a custom entry call inside the enclave. The returned memory is handed to the host as is;
/// it may be the payload itself or a slice of it.
/// </summary>
/// <param name="payload">The host's payload. Treat it as read-only; it is valid until the returned task completes.</param>
/// <param name="cancellationToken">Cancelled when the host cancels the call or the enclave is finalized.</param>
public delegate ValueTask<ReadOnlyMemory<byte>> EntryPointHandler(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);
