namespace Cloister.Remote;

/// <summary>
/// Starts the proxy process that will host one remote enclave, and owns it. The proxy then reports in to the host's
/// rendezvous at <see cref="ProxyProvisionRequest.ClientAddress"/> with its own endpoint. One instance per enclave.
/// </summary>
public interface IRemoteProvision : IAsyncDisposable
{
    /// <summary>Starts the proxy. Completes once it is started, not once it has reported in.</summary>
    /// <exception cref="EnclaveException">The proxy could not be started; the message says why.</exception>
    ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken);

    /// <summary>Completes when the proxy has exited, with how it exited.</summary>
    Task<ProxyExitStatus> Exited { get; }

    /// <summary>The last lines the proxy wrote, quoted in error messages; empty when unknown.</summary>
    string RecentOutput { get; }

    /// <summary>
    /// The host name or address the proxy's machine is reached at, used when the proxy reports an unspecified listen
    /// address (<c>0.0.0.0</c>, <c>[::]</c>); <see langword="null"/> for this machine.
    /// </summary>
    string? ProxyHost { get; }

    /// <summary>
    /// Stops the proxy (it normally exits by itself once the host lets it go; after <paramref name="gracePeriod"/> it is
    /// killed) and cleans up what provisioning made. Idempotent.
    /// </summary>
    ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default);
}
