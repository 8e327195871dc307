using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>What a backend needs to open one enclave.</summary>
public sealed class EnclaveOpenRequest
{
    private readonly EnclaveClient _client;
    private readonly HostCallRegistry _hostCalls;

    internal EnclaveOpenRequest(EnclaveClient client, EnclaveLoadConfig loadConfig, EnclaveManagerOptions options, HostCallRegistry hostCalls)
    {
        _client = client;
        _hostCalls = hostCalls;
        LoadConfig = loadConfig;
        PackageLimits = options.PackageLimits;
        LoggerFactory = options.LoggerFactory;
    }

    /// <summary>The enclave's name.</summary>
    public string Name => _client.Name;

    /// <summary>The load configuration, as the host gave it.</summary>
    public EnclaveLoadConfig LoadConfig { get; }

    /// <summary>The limits the package must respect.</summary>
    public PackageLimits PackageLimits { get; }

    /// <summary>The host's logging.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Runs a host call the enclave made, on the host's registered handlers. Errors are <see cref="EnclaveException"/>s.</summary>
    public ValueTask<ReadOnlyMemory<byte>> DispatchHostCallAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        _hostCalls.DispatchAsync(_client, selector, payload, cancellationToken);

    /// <summary>As <see cref="DispatchHostCallAsync(string, ReadOnlyMemory{byte}, CancellationToken)"/>, with the span the
    /// host call arrived with, which becomes the parent of its own.</summary>
    internal ValueTask<ReadOnlyMemory<byte>> DispatchRemoteHostCallAsync(string selector, ReadOnlyMemory<byte> payload, System.Diagnostics.ActivityContext remoteParent, CancellationToken cancellationToken) =>
        _hostCalls.DispatchAsync(_client, selector, payload, cancellationToken, remoteParent);

    /// <summary>The host's measurements of this enclave's calls (its tags).</summary>
    internal CallTelemetry Telemetry => _client.Telemetry;
}
