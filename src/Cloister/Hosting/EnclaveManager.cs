using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Cloister;

/// <summary>
/// Loads, finds and destroys enclaves by name. One manager per process is usual; it is thread-safe and owns
/// every enclave it loaded: disposing it destroys them.
/// </summary>
/// <example>
/// <code>
/// await using var manager = new EnclaveManager();
/// var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "hello", PackagePath = "hello.cloister" });
/// var output = await client.EnterAndRunAsync(new EnclaveInput { Text = "world" });
/// await manager.DestroyEnclaveAsync(client);
/// </code>
/// </example>
public sealed partial class EnclaveManager : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, EnclaveClient> _enclaves = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private int _disposed;

    /// <summary>Creates a manager.</summary>
    /// <param name="options">Settings; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public EnclaveManager(EnclaveManagerOptions? options = null)
    {
        Options = options ?? new EnclaveManagerOptions();
        Options.Validate();
        _logger = Options.LoggerFactory.CreateLogger<EnclaveManager>();
        HostCalls = new HostCallRegistry();
        new BuiltInHostCalls(Options).RegisterAll(HostCalls);
    }

    /// <summary>The manager's settings.</summary>
    public EnclaveManagerOptions Options { get; }

    /// <summary>The host calls every enclave of this manager can make. Register custom handlers here.</summary>
    public HostCallRegistry HostCalls { get; }

    /// <summary>The enclaves currently loaded.</summary>
    public IReadOnlyCollection<EnclaveClient> Enclaves => _enclaves.Values.Where(c => c.Transport is not null && !c.IsDestroyed).ToArray();

    /// <summary>
    /// Loads an enclave: verifies its package, starts it on the chosen backend and runs its
    /// <see cref="TrustedApplication.InitializeAsync"/>. If Initialize fails, the enclave is torn down, its name is
    /// freed and the failure is thrown here.
    /// </summary>
    /// <exception cref="EnclaveException"><see cref="EnclaveStatusCode.AlreadyExists"/> "Name already exists: &lt;name&gt;";
    /// <see cref="EnclaveStatusCode.InvalidArgument"/> for a bad config or package; <see cref="EnclaveStatusCode.PermissionDenied"/>
    /// for a measurement mismatch; or the enclave's own error from Initialize.</exception>
    public async ValueTask<EnclaveClient> LoadEnclaveAsync(EnclaveLoadConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (string.IsNullOrWhiteSpace(config.Name))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, "EnclaveLoadConfig.name is required: give the enclave a unique name.");
        }

        if (string.IsNullOrWhiteSpace(config.PackagePath))
        {
            throw new EnclaveException(EnclaveStatusCode.InvalidArgument, $"EnclaveLoadConfig.package_path is required for enclave '{config.Name}': give the path of a .cloister package (made with `cloister pack`).");
        }

        var backendName = config.HasBackend && config.Backend.Length > 0 ? config.Backend : SimBackend.BackendName;
        var backend = Options.Backends.FirstOrDefault(b => b.Name == backendName)
            ?? throw new EnclaveException(EnclaveStatusCode.InvalidArgument,
                $"Unknown backend '{backendName}' for enclave '{config.Name}'. Known backends: {string.Join(", ", Options.Backends.Select(b => b.Name))}; add others to EnclaveManagerOptions.Backends.");

        var client = new EnclaveClient(config.Name, backend.Name, Options.ExtensionRegistry);
        if (!_enclaves.TryAdd(config.Name, client))
        {
            throw new EnclaveException(EnclaveStatusCode.AlreadyExists, $"Name already exists: {config.Name}");
        }

        EnclaveTransport? transport = null;
        var started = Stopwatch.GetTimestamp();
        using var activity = CloisterTelemetry.Source.StartActivity("load enclave");
        activity?.SetTag(CloisterTags.EnclaveName, config.Name);
        activity?.SetTag(CloisterTags.Backend, backend.Name);
        try
        {
            transport = await backend.OpenAsync(new EnclaveOpenRequest(client, config, Options, HostCalls), cancellationToken).ConfigureAwait(false);
            client.SetMeasurement(transport.Measurement);
            var enclaveConfig = config.Config?.Clone() ?? new EnclaveConfig();
            enclaveConfig.Name = config.Name;
            enclaveConfig.Debug = config.Debug;
            var initializing = Stopwatch.GetTimestamp();
            await client.InvokeTransportAsync(transport, Selectors.Initialize, enclaveConfig.ToByteArray(), deadline: null, cancellationToken).ConfigureAwait(false);
            CloisterTelemetry.RecordStage(client.Telemetry, ProvisionStages.Initialize, initializing);
            client.Attach(transport);
            RecordLoad(client, "OK", started);
            LogLoaded(config.Name, backend.Name, transport.Measurement);
            return client;
        }
        catch (Exception ex)
        {
            RecordLoad(client, CloisterTelemetry.StatusName(ex), started);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            LogLoadFailed(config.Name, backend.Name, ex.Message);
            client.MarkDestroyed();
            if (transport is not null)
            {
                await transport.DisposeAsync().ConfigureAwait(false);
            }

            _enclaves.TryRemove(new KeyValuePair<string, EnclaveClient>(config.Name, client));
            if (ex is EnclaveException)
            {
                throw;
            }

            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw new EnclaveException(EnclaveStatusCode.Cancelled, $"Loading enclave '{config.Name}' was cancelled.", ex);
            }

            throw new EnclaveException(EnclaveStatusCode.Internal, $"Loading enclave '{config.Name}' failed: {ex.Message}", ex);
        }
    }

    /// <summary>The client of the loaded enclave named <paramref name="name"/>, or <see langword="null"/> when there is none.</summary>
    public EnclaveClient? GetClient(string name) =>
        _enclaves.TryGetValue(name, out var client) && client.Transport is not null && !client.IsDestroyed ? client : null;

    /// <summary>
    /// Destroys an enclave: runs its <see cref="TrustedApplication.FinalizeAsync"/>, tears it down and frees its name.
    /// Idempotent: destroying a destroyed enclave does nothing. If Finalize fails, the enclave is still torn down
    /// and the failure is thrown, except when the enclave is unreachable (<see cref="EnclaveStatusCode.Unavailable"/>,
    /// e.g. its proxy died): then there is nothing to finalize, and the destroy succeeds.
    /// </summary>
    public ValueTask DestroyEnclaveAsync(EnclaveClient client, EnclaveFinal? final = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        lock (client)
        {
            client.DestroyTask ??= DestroyCoreAsync(client, final ?? new EnclaveFinal(), cancellationToken);
            return new ValueTask(client.DestroyTask);
        }
    }

    private async Task DestroyCoreAsync(EnclaveClient client, EnclaveFinal final, CancellationToken cancellationToken)
    {
        var transport = client.Transport;
        if (transport is null || client.IsDestroyed)
        {
            return;
        }

        using var activity = CloisterTelemetry.Source.StartActivity("destroy enclave");
        activity?.SetTag(CloisterTags.EnclaveName, client.Name);
        activity?.SetTag(CloisterTags.Backend, client.Backend);
        try
        {
            await client.InvokeTransportAsync(transport, Selectors.Finalize, final.ToByteArray(), deadline: null, cancellationToken).ConfigureAwait(false);
        }
        catch (EnclaveException ex) when (ex.StatusCode == EnclaveStatusCode.Unavailable)
        {
            // The enclave is already gone (its proxy died): there is nothing left to finalize, and the
            // teardown below is all a destroy still owes.
            LogFinalizeUnavailable(client.Name, ex.Message);
        }
        finally
        {
            client.MarkDestroyed();
            await transport.DisposeAsync().ConfigureAwait(false);
            _enclaves.TryRemove(new KeyValuePair<string, EnclaveClient>(client.Name, client));
            CloisterTelemetry.Destroys.Add(1, client.Telemetry.LifecycleTags);
            LogDestroyed(client.Name);
        }
    }

    private static void RecordLoad(EnclaveClient client, string status, long started)
    {
        var tags = client.Telemetry.LifecycleTags;
        tags.Add(CloisterTags.StatusCode, status);
        CloisterTelemetry.Loads.Add(1, tags);
        CloisterTelemetry.RecordSince(CloisterTelemetry.LoadDuration, started, tags);
    }

    /// <summary>Destroys every enclave this manager loaded.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var client in _enclaves.Values.ToArray())
        {
            try
            {
                await DestroyEnclaveAsync(client, new EnclaveFinal { Reason = "The host's EnclaveManager was disposed." }).ConfigureAwait(false);
            }
            catch (EnclaveException ex)
            {
                LogDestroyFailed(client.Name, ex.Message);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Enclave '{Name}' loaded on backend '{Backend}', measurement {Measurement}")]
    private partial void LogLoaded(string name, string backend, string measurement);

    [LoggerMessage(2, LogLevel.Warning, "Enclave '{Name}' failed to load on backend '{Backend}': {Reason}")]
    private partial void LogLoadFailed(string name, string backend, string reason);

    [LoggerMessage(3, LogLevel.Information, "Enclave '{Name}' destroyed")]
    private partial void LogDestroyed(string name);

    [LoggerMessage(5, LogLevel.Warning, "Enclave '{Name}' could not be finalized, it is already gone: {Reason}")]
    private partial void LogFinalizeUnavailable(string name, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Enclave '{Name}' failed to finalize while the manager was disposed: {Reason}")]
    private partial void LogDestroyFailed(string name, string reason);
}
