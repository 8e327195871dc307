namespace Cloister;

/// <summary>
/// Handles a host call (an exit call from an enclave) on the host. The handler runs in the async context of
/// the entry call that led to it, so it may call back into the enclave through <see cref="HostCallContext.Enclave"/>.
/// </summary>
/// <param name="context">Which enclave called, and with which selector.</param>
/// <param name="payload">The enclave's payload. Treat it as read-only; it is valid until the returned task completes.</param>
/// <param name="cancellationToken">Cancelled when the entry call that made this host call is cancelled.</param>
public delegate ValueTask<ReadOnlyMemory<byte>> HostCallHandler(HostCallContext context, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

/// <summary>The enclave and selector of a host call.</summary>
/// <param name="Enclave">The client of the enclave that made the call; use it to call back in (nested calls).</param>
/// <param name="Selector">The selector the enclave called.</param>
public readonly record struct HostCallContext(EnclaveClient Enclave, string Selector);
