using Cloister;

// In OpenTelemetry's namespace, as instrumentation libraries do, so the method shows up where the builder is used.
namespace OpenTelemetry.Metrics;

/// <summary>Adds Cloister's metrics to an OpenTelemetry <see cref="MeterProviderBuilder"/>.</summary>
public static class CloisterMeterProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes to Cloister's meter (<see cref="CloisterDiagnostics.MeterName"/>): entry and host calls, loads,
    /// provisioning stages, destroys and proxy exits, and in a proxy process its CPU, memory and threads. The instruments,
    /// units and tags are listed in docs/observability.md; the call and lifecycle histograms bring their own bucket
    /// boundaries (from 10 µs), which a view can override.
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddOpenTelemetry()
    ///     .WithMetrics(metrics => metrics.AddCloisterInstrumentation().AddOtlpExporter())
    ///     .WithTracing(tracing => tracing.AddCloisterInstrumentation().AddOtlpExporter());
    /// </code>
    /// </example>
    public static MeterProviderBuilder AddCloisterInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(CloisterDiagnostics.MeterName);
    }
}
