using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cloister.Remote;

/// <summary>
/// Whether a Cloister process serves, as grpc.health.v1 reports it (service <c>""</c> and the process's own service:
/// <c>cloister.remote.v1.Communicator</c> for a proxy, <c>cloister.remote.v1.Provisioner</c> for a provision server): one
/// state, set by the process, answered on every server it runs (its main one, HTTP/2; the metrics endpoint's, gRPC-Web
/// over HTTP/1.1 so one plaintext port serves both).
/// </summary>
internal sealed class ServingHealth(string service = ServingHealth.CommunicatorService)
{
    /// <summary>The gRPC service name of the communicator, as health checks name it.</summary>
    public const string CommunicatorService = "cloister.remote.v1.Communicator";

    /// <summary>The gRPC service name of the provision server, as health checks name it.</summary>
    public const string ProvisionerService = "cloister.remote.v1.Provisioner";

    private volatile HealthState _state = new(Serving: false, "starting", Condition: null, NotReady: null);

    /// <summary>Serving: with a <paramref name="condition"/>, only while it holds (else NOT_SERVING, saying <paramref name="notReady"/>).</summary>
    public void SetServing(string description, Func<bool>? condition = null, string? notReady = null) =>
        _state = new HealthState(Serving: true, description, condition, notReady);

    public void SetNotServing(string description) => _state = new HealthState(Serving: false, description, Condition: null, NotReady: null);

    /// <summary>The current state and why.</summary>
    public (bool Serving, string Description) Check()
    {
        var state = _state;
        return !state.Serving ? (false, state.Description)
            : state.Condition is { } condition && !condition() ? (false, state.NotReady ?? state.Description)
            : (true, state.Description);
    }

    /// <summary>Registers the grpc.health.v1 service, answered from this state, in a server's services.</summary>
    public void AddTo(IServiceCollection services)
    {
        services.AddGrpcHealthChecks(options => options.Services.Map(service, _ => true))
            .AddCheck("cloister", () =>
            {
                var (serving, description) = Check();
                return serving ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description);
            });
    }

    /// <summary>Maps the grpc.health.v1 service of <see cref="AddTo"/>.</summary>
    public static GrpcServiceEndpointConventionBuilder Map(WebApplication app) => app.MapGrpcHealthChecksService();

    private sealed record HealthState(bool Serving, string Description, Func<bool>? Condition, string? NotReady);
}
