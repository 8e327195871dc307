using Cloister.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Translator;

/// <summary>The enclave: serves <see cref="TranslatorService"/> on the address the host gives in server_address.</summary>
public sealed class TranslatorEnclave : GrpcServerEnclave
{
    protected override void ConfigureServices(IServiceCollection services) => services.AddGrpc();

    protected override void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapGrpcService<TranslatorService>();
}
