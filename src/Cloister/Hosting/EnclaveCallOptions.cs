namespace Cloister;

/// <summary>Per-call settings of an entry call, after gRPC's <c>CallOptions</c>.</summary>
public readonly struct EnclaveCallOptions
{
    /// <summary>Creates call options.</summary>
    /// <param name="deadline">When the call must be done (converted to UTC); <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public EnclaveCallOptions(DateTime? deadline = null, CancellationToken cancellationToken = default)
    {
        Deadline = deadline?.ToUniversalTime();
        CancellationToken = cancellationToken;
    }

    /// <summary>
    /// When the call must be done (UTC). Past it the call fails with <see cref="EnclaveStatusCode.DeadlineExceeded"/> and the
    /// enclave's cancellation token fires where the enclave runs (in the proxy, for the remote backend).
    /// </summary>
    public DateTime? Deadline { get; }

    /// <summary>Cancels the call; the enclave's token fires too.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Options with a deadline <paramref name="timeout"/> from now.</summary>
    public static EnclaveCallOptions WithTimeout(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        new(DateTime.UtcNow + timeout, cancellationToken);
}
