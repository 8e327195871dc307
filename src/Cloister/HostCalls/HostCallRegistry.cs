using System.Collections.Concurrent;

namespace Cloister;

/// <summary>
/// The host calls an <see cref="EnclaveManager"/> answers, by selector. The built-ins (console, logging, host files,
/// clock) are always present; applications add their own with <see cref="Register"/>. Thread-safe; handlers
/// registered or removed take effect for the next call.
/// </summary>
public sealed class HostCallRegistry
{
    private readonly ConcurrentDictionary<string, HostCallHandler> _handlers = new(StringComparer.Ordinal);

    internal HostCallRegistry()
    {
    }

    /// <summary>Registers the handler for <paramref name="selector"/>.</summary>
    /// <exception cref="ArgumentException">The selector is empty, reserved (starts with <c>cloister.</c>) or already registered.</exception>
    public void Register(string selector, HostCallHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(selector);
        ArgumentNullException.ThrowIfNull(handler);
        if (Selectors.IsReserved(selector))
        {
            throw new ArgumentException($"Selector '{selector}' is reserved: selectors starting with '{Selectors.ReservedPrefix}' belong to Cloister's built-in host calls. Choose another name.", nameof(selector));
        }

        if (!_handlers.TryAdd(selector, handler))
        {
            throw new ArgumentException($"A host call handler is already registered for selector '{selector}'; unregister it first.", nameof(selector));
        }
    }

    /// <summary>Removes the handler for <paramref name="selector"/>; returns whether there was one.</summary>
    public bool Unregister(string selector) => !Selectors.IsReserved(selector) && _handlers.TryRemove(selector, out _);

    /// <summary>Whether a handler answers <paramref name="selector"/>.</summary>
    public bool IsRegistered(string selector) => _handlers.ContainsKey(selector);

    internal void RegisterBuiltIn(string selector, HostCallHandler handler) => _handlers[selector] = handler;

    internal async ValueTask<ReadOnlyMemory<byte>> DispatchAsync(EnclaveClient enclave, string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (!_handlers.TryGetValue(selector, out var handler))
        {
            throw new EnclaveException(EnclaveStatusCode.Unimplemented,
                $"Enclave '{enclave.Name}' made a host call to '{selector}', but the host has no handler for it. Register one with EnclaveManager.HostCalls.Register(\"{selector}\", ...).");
        }

        try
        {
            return await handler(new HostCallContext(enclave, selector), payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not EnclaveException)
        {
            throw ex is OperationCanceledException && cancellationToken.IsCancellationRequested
                ? new EnclaveException(EnclaveStatusCode.Cancelled, $"Host call '{selector}' was cancelled.", ex)
                : new EnclaveException(EnclaveStatusCode.Unknown, $"The host's handler for '{selector}' threw {ex.GetType().FullName}: {ex.Message}", ex);
        }
    }
}
