namespace Cloister;

/// <summary>
/// The names under which Cloister reports metrics (<see cref="System.Diagnostics.Metrics.Meter"/>) and traces
/// (<see cref="System.Diagnostics.ActivitySource"/>). Subscribe to them with OpenTelemetry
/// (<c>AddCloisterInstrumentation()</c> from the Cloister.OpenTelemetry package, or <c>AddMeter</c>/<c>AddSource</c> with these
/// names), <c>dotnet-counters</c> or a <see cref="System.Diagnostics.Metrics.MeterListener"/>. Every instrument, its unit and
/// its tags are listed in docs/observability.md. Nothing is measured while nobody listens.
/// </summary>
public static class CloisterDiagnostics
{
    /// <summary>The name of Cloister's meter: <c>Cloister</c>.</summary>
    public const string MeterName = "Cloister";

    /// <summary>The name of Cloister's activity source: <c>Cloister</c>.</summary>
    public const string ActivitySourceName = "Cloister";
}
