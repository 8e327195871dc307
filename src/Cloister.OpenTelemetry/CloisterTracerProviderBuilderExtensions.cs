using Cloister;

// In OpenTelemetry's namespace, as instrumentation libraries do, so the method shows up where the builder is used.
namespace OpenTelemetry.Trace;

/// <summary>Adds Cloister's traces to an OpenTelemetry <see cref="TracerProviderBuilder"/>.</summary>
public static class CloisterTracerProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes to Cloister's activity source (<see cref="CloisterDiagnostics.ActivitySourceName"/>): a span per entry
    /// call and host call, and per load and destroy. With the remote backend the trace context travels in every call, so
    /// the spans of the host and of the enclave's proxy form one trace: host → enclave → host.
    /// </summary>
    public static TracerProviderBuilder AddCloisterInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(CloisterDiagnostics.ActivitySourceName);
    }
}
