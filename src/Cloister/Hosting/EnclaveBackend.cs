namespace Cloister;

/// <summary>
/// Where and how enclaves run: <c>sim</c> (in this process, no isolation), <c>remote</c> (a proxy process),
/// and later hardware providers. Register backends in <see cref="EnclaveManagerOptions.Backends"/>;
/// <see cref="EnclaveLoadConfig.Backend"/> picks one by <see cref="Name"/>.
/// </summary>
public abstract class EnclaveBackend
{
    /// <summary>The name <see cref="EnclaveLoadConfig.Backend"/> uses for this backend, e.g. <c>sim</c>.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Verifies the package, starts the enclave (without initializing it) and returns the transport to it.
    /// The manager then sends Initialize through the transport, and disposes it on destroy or failure.
    /// </summary>
    public abstract ValueTask<EnclaveTransport> OpenAsync(EnclaveOpenRequest request, CancellationToken cancellationToken);
}
