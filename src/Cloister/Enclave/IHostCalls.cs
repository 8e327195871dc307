namespace Cloister;

/// <summary>
/// Calls from inside an enclave out to its (untrusted) host. The enclave has no I/O of its own: everything it
/// sends or receives goes through here, and the host sees all of it. Calls nest to any depth (the host handler
/// may call back into the enclave) and may run concurrently. A host call made while serving an entry call runs
/// on the host in that entry call's async context.
/// </summary>
public interface IHostCalls
{
    /// <summary>Calls a handler the host registered under <paramref name="selector"/>.</summary>
    /// <returns>The handler's reply.</returns>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.Unimplemented"/> when the host has no such handler;
    /// otherwise the handler's error.</exception>
    ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default);

    /// <summary>Writes text to the host's console (standard output, or standard error when <paramref name="error"/> is set).</summary>
    ValueTask WriteConsoleAsync(string text, bool error = false, CancellationToken cancellationToken = default);

    /// <summary>Reads a whole file from the host's file system.</summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.NotFound"/> when the file does not exist,
    /// <see cref="EnclaveStatusCode.PermissionDenied"/> when the host does not allow it.</exception>
    ValueTask<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default);

    /// <summary>Writes (or appends to) a file on the host's file system.</summary>
    ValueTask WriteFileAsync(string path, ReadOnlyMemory<byte> contents, bool append = false, CancellationToken cancellationToken = default);

    /// <summary>The host's clock. The host is untrusted: do not base security decisions on it.</summary>
    ValueTask<DateTimeOffset> GetTimeAsync(CancellationToken cancellationToken = default);
}
