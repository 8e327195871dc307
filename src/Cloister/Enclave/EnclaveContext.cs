using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>What a <see cref="TrustedApplication"/> knows about the enclave it runs in.</summary>
public sealed class EnclaveContext
{
    private readonly ConcurrentDictionary<string, EntryPointHandler> _entryPoints = new(StringComparer.Ordinal);

    internal EnclaveContext(string name, bool debug, IHostCalls host, ILoggerFactory loggerFactory)
    {
        Name = name;
        IsDebug = debug;
        Host = host;
        LoggerFactory = loggerFactory;
    }

    /// <summary>The enclave's name in its host's manager.</summary>
    public string Name { get; }

    /// <summary>True when the host loaded the enclave in debug mode.</summary>
    public bool IsDebug { get; }

    /// <summary>Calls out to the host.</summary>
    public IHostCalls Host { get; }

    /// <summary>Loggers that forward to the host's logging.</summary>
    public ILoggerFactory LoggerFactory { get; }

    internal void RegisterEntryPoint(string selector, EntryPointHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(selector);
        ArgumentNullException.ThrowIfNull(handler);
        if (Selectors.IsReserved(selector))
        {
            throw new ArgumentException($"Selector '{selector}' is reserved: selectors starting with '{Selectors.ReservedPrefix}' belong to Cloister. Choose another name.", nameof(selector));
        }

        if (!_entryPoints.TryAdd(selector, handler))
        {
            throw new ArgumentException($"An entry point is already registered for selector '{selector}'.", nameof(selector));
        }
    }

    internal bool TryGetEntryPoint(string selector, out EntryPointHandler handler) => _entryPoints.TryGetValue(selector, out handler!);
}
