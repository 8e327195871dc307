using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cloister;

/// <summary>
/// The host calls an <see cref="EnclaveManager"/> answers, by selector. The built-ins (console, logging, host files,
/// clock) are always present; applications add their own with <see cref="Register"/>. Thread-safe; handlers
/// registered or removed take effect for the next call.
/// </summary>
public sealed class HostCallRegistry
{
    /// <summary>The <c>cloister.call.selector</c> tag of host calls to selectors without a handler.</summary>
    internal const string UnregisteredSelector = "(unregistered)";

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

    /// <summary>
    /// Runs a host call on its handler, measured when anybody listens. <c>remoteParent</c> is the span of the enclave-side
    /// caller when it came over the wire: the host call's span is its child. Otherwise the span's parent is the current
    /// activity (the entry call the host call came from).
    /// </summary>
    internal ValueTask<ReadOnlyMemory<byte>> DispatchAsync(EnclaveClient enclave, string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken, ActivityContext remoteParent = default) =>
        CloisterTelemetry.IsCallObserved
            ? DispatchObservedAsync(enclave, selector, payload, remoteParent, cancellationToken)
            : DispatchCoreAsync(enclave, selector, payload, cancellationToken);

    private async ValueTask<ReadOnlyMemory<byte>> DispatchObservedAsync(EnclaveClient enclave, string selector, ReadOnlyMemory<byte> payload, ActivityContext remoteParent, CancellationToken cancellationToken)
    {
        // The selector comes from the enclave, which the host does not trust: selectors without a handler share one tag
        // value, so an enclave cannot grow the host's metrics without bound.
        var tagged = _handlers.ContainsKey(selector) ? selector : UnregisteredSelector;
        var observation = enclave.Telemetry.Start(CallDirection.HostCall, tagged, payload.Length, remoteParent);
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await DispatchCoreAsync(enclave, selector, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            observation.Fail(ex);
            throw;
        }

        observation.Complete(reply.Length);
        return reply;
    }

    private async ValueTask<ReadOnlyMemory<byte>> DispatchCoreAsync(EnclaveClient enclave, string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
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
