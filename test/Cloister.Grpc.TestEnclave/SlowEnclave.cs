using Cloister.Grpc;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Cloister.Testing.Grpc;

public sealed class SlowEnclave : GrpcServerEnclave
{
    protected override void ConfigureServices(IServiceCollection services) => services.AddGrpc();

    protected override void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapGrpcService<SlowService>();
}

public sealed class SlowService : Slow.SlowBase
{
    public override async Task<SleepReply> Sleep(SleepRequest request, ServerCallContext context)
    {
        await Task.Delay(request.Milliseconds, context.CancellationToken);
        return new SleepReply { Completed = true };
    }
}
