using System.Diagnostics;
using Cloister.Remote.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>The proxy's observability: its metrics endpoint and health, its measurements of calls, the trace context it passes on.</summary>
public sealed partial class ProxyServer
{
    private readonly ServingHealth _health = new();
    private MetricsEndpoint? _metrics;
    private CallTelemetry? _calls;
    private ProxyProcessMetrics? _processMetrics;

    /// <summary>Starts the metrics endpoint when <c>--metrics-port</c> asked for one; it reports NOT_SERVING until registered.</summary>
    private async Task StartMetricsEndpointAsync(CancellationToken cancellationToken)
    {
        _health.SetNotServing($"loading enclave '{_options.EnclaveName}'");
        if (_options.MetricsPort is { } port)
        {
            _metrics = await MetricsEndpoint.StartAsync(_options.MetricsAddress, port, _health, _loggerFactory, cancellationToken).ConfigureAwait(false);
            LogMetrics(_options.EnclaveName, _metrics.MetricsUrl.ToString());
            if (_options.MetricsUrlFile is { } file)
            {
                await WriteMetricsUrlFileAsync(file, _metrics.MetricsUrl.ToString(), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes <paramref name="url"/> beside <paramref name="path"/>, then moves it into place: a reader sees all or nothing.</summary>
    private static async Task WriteMetricsUrlFileAsync(string path, string url, CancellationToken cancellationToken)
    {
        var partial = path + ".partial";
        try
        {
            await File.WriteAllTextAsync(partial, url, cancellationToken).ConfigureAwait(false);
            File.Move(partial, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(partial);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // Nothing was written, or it cannot be removed: the reason below is what matters.
            }

            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"Cannot write the metrics URL to '{path}' (--metrics-url-file): {ex.Message}. Give a path in a folder the proxy can write to.", ex);
        }
    }

    /// <summary>The metrics URL file names an endpoint that is gone once the proxy stops: it goes too.</summary>
    private void DeleteMetricsUrlFile()
    {
        if (_options.MetricsUrlFile is { } file)
        {
            try
            {
                File.Delete(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Best effort: whoever reads it finds the endpoint gone.
            }
        }
    }

    /// <summary>Once the package is loaded and its measurement known: the tags of every measurement this proxy makes.</summary>
    private void StartCallTelemetry(string measurement)
    {
        _calls = CallTelemetry.For(_options.EnclaveName, RemoteBackend.BackendName, measurement, CallSide.Proxy);
        _processMetrics = new ProxyProcessMetrics(_options.EnclaveName, _calls.MeasurementPrefix);
    }

    /// <summary>Registered with the host: SERVING from now on while the enclave runs (after Initialize, until Finalize).</summary>
    private void MarkServing()
    {
        var enclave = _enclave!;
        _health.SetServing($"enclave '{_options.EnclaveName}' running, measurement {enclave.Measurement}",
            () => enclave.Runtime.IsRunning, $"enclave '{_options.EnclaveName}' is not running (not initialized yet, or finalized)");
    }

    private async Task StopTelemetryAsync()
    {
        _health.SetNotServing($"enclave '{_options.EnclaveName}' stopped");
        _processMetrics?.Dispose();
        if (_metrics is not null)
        {
            DeleteMetricsUrlFile();
            await _metrics.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void AddHealth(IServiceCollection services) => _health.AddTo(services);

    private static void MapHealth(WebApplication app) => ServingHealth.Map(app);

    /// <summary>An entry call into the enclave, measured and traced when anybody listens.</summary>
    private ValueTask<ReadOnlyMemory<byte>> InvokeEnclaveAsync(CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var runtime = _enclave!.Runtime;
        return _calls is { } calls && CloisterTelemetry.IsCallObserved
            ? InvokeEnclaveObservedAsync(calls, runtime, header, payload, cancellationToken)
            : runtime.InvokeAsync(header.Selector, payload, cancellationToken);
    }

    private static async ValueTask<ReadOnlyMemory<byte>> InvokeEnclaveObservedAsync(CallTelemetry calls, EnclaveRuntime runtime, CallRequest header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // The span's parent is the host's span that came with the call, not whatever the web server made current.
        var observation = calls.Start(CallDirection.Entry, header.Selector, payload.Length, WireTraceContext.ParentOf(header));
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await runtime.InvokeAsync(header.Selector, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            observation.Fail(ex);
            throw;
        }

        observation.Complete(reply.Length);
        return reply;
    }

    /// <summary>A host call out of the enclave, measured and traced when anybody listens.</summary>
    private ValueTask<ReadOnlyMemory<byte>> CallHostAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        _calls is { } calls && CloisterTelemetry.IsCallObserved
            ? CallHostObservedAsync(calls, selector, payload, cancellationToken)
            : CallHostCoreAsync(selector, payload, cancellationToken);

    private async ValueTask<ReadOnlyMemory<byte>> CallHostObservedAsync(CallTelemetry calls, string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var observation = calls.Start(CallDirection.HostCall, selector, payload.Length);
        ReadOnlyMemory<byte> reply;
        try
        {
            reply = await CallHostCoreAsync(selector, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            observation.Fail(ex);
            throw;
        }

        observation.Complete(reply.Length);
        return reply;
    }

    /// <summary>
    /// The trace context a host call carries: this proxy's current span when it is one of Cloister's (the host call's own
    /// span, when traced), else the one its entry call came with, so that the host's spans still link up across a proxy
    /// that records none. Never the web server's request activity, which nobody exports.
    /// </summary>
    private static WireTraceContext OutgoingTraceContext()
    {
        var current = Activity.Current;
        return current is { IdFormat: ActivityIdFormat.W3C } && ReferenceEquals(current.Source, CloisterTelemetry.Source)
            ? WireTraceContext.From(current)
            : CurrentEntryCall.Value?.Trace ?? default;
    }

    /// <summary>The entry call being served (an AsyncLocal): its id, which its host calls name as their parent, and its trace context.</summary>
    private sealed record EntryCallScope(ulong CallId, WireTraceContext Trace);

    [LoggerMessage(220, LogLevel.Information, "Proxy for enclave '{Name}' serves metrics at {Url} (and grpc.health.v1 over gRPC-Web)")]
    private partial void LogMetrics(string name, string url);
}
