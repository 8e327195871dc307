using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Cloister.Remote.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cloister.Remote;

/// <summary>
/// The host's side of the communicator: one gRPC server per <see cref="RemoteBackend"/> where its proxies report in
/// (<c>Rendezvous</c>) and send their enclaves' host calls (<c>Communicator</c>). Calls are routed to the enclave's
/// <see cref="ProxyClient"/> by session token.
/// </summary>
internal sealed class CommunicatorHost : ICallDispatcher, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ProxyClient> _sessions = new(StringComparer.Ordinal);
    private readonly WebApplication _app;
    private readonly CommunicatorService _communicator;
    private readonly string? _socketDirectory;

    private CommunicatorHost(WebApplication app, CommunicatorService communicator, EndpointAddress address, string? socketDirectory)
    {
        _app = app;
        _communicator = communicator;
        Address = address;
        _socketDirectory = socketDirectory;
    }

    /// <summary>Where proxies reach this host, as bound (port 0 resolved).</summary>
    public EndpointAddress Address { get; }

    public static async Task<CommunicatorHost> StartAsync(string? address, ChannelSecurity security, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        string? socketDirectory = null;
        EndpointAddress listen;
        if (address is null)
        {
            socketDirectory = Directory.CreateTempSubdirectory("cloister-host-").FullName;
            listen = EndpointAddress.Unix(Path.Combine(socketDirectory, "host.sock"));
        }
        else
        {
            listen = EndpointAddress.Parse(address, nameof(RemoteProxyConfig.HostAddress));
        }

        var builder = CommunicatorServers.CreateBuilder(listen, security, loggerFactory);

        // The services need the host and the host needs the app: build the services first, then the host around them.
        CommunicatorHost? host = null;
        var dispatcher = new DeferredDispatcher(() => host!);
        var communicator = new CommunicatorService(dispatcher);
        builder.Services.AddSingleton(communicator);
        builder.Services.AddSingleton<RendezvousService>(_ => new RendezvousService(host!));
        var app = builder.Build();
        app.MapGrpcService<CommunicatorService>();
        app.MapGrpcService<RendezvousService>();
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition, $"The remote backend cannot listen on {listen}: {ex.Message}", ex);
        }

        var bound = CommunicatorServers.BoundAddress(app);
        host = new CommunicatorHost(app, communicator, bound, socketDirectory);
        return host;
    }

    public void Add(ProxyClient session) => _sessions[session.SessionToken] = session;

    public void Remove(ProxyClient session) => _sessions.TryRemove(new KeyValuePair<string, ProxyClient>(session.SessionToken, session));

    private ProxyClient Authenticate(ServerCallContext context)
    {
        var token = context.RequestHeaders.GetValue(CommunicatorLimits.SessionHeader);
        return token is not null && _sessions.TryGetValue(token, out var session) && session.TokenMatches(token)
            ? session
            : throw new RpcException(new Status(StatusCode.Unauthenticated, "Unknown or missing session token: this host did not provision that proxy, or the enclave was destroyed."));
    }

    ICallTarget ICallDispatcher.Accept(ServerCallContext context) => Authenticate(context);

    public Task<RegisterReply> Register(RegisterRequest request, ServerCallContext context)
    {
        if (!_sessions.TryGetValue(request.SessionToken, out var session) || !session.TokenMatches(request.SessionToken))
        {
            // Tell the load that waits for this enclave, if any, why its proxy will never be accepted.
            foreach (var pending in _sessions.Values.Where(s => s.Name == request.EnclaveName))
            {
                pending.FailRegistration(new EnclaveException(EnclaveStatusCode.Unauthenticated,
                    $"The proxy for enclave '{request.EnclaveName}' (pid {request.ProcessId}) reported in with a wrong session token; it was not started by this host's provisioning."));
            }

            throw new RpcException(new Status(StatusCode.Unauthenticated, "Wrong session token."));
        }

        if (request.ProtocolVersion != CommunicatorLimits.ProtocolVersion)
        {
            session.FailRegistration(new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"The proxy for enclave '{session.Name}' speaks communicator protocol v{request.ProtocolVersion}, this host v{CommunicatorLimits.ProtocolVersion}; run the same Cloister version on both sides."));
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Protocol v{request.ProtocolVersion} is not supported; this host speaks v{CommunicatorLimits.ProtocolVersion}."));
        }

        session.CompleteRegistration(request);
        return Task.FromResult(new RegisterReply { MaxInlineBytes = CommunicatorLimits.MaxInlineBytes });
    }

    public Task Attach(AttachRequest request, IServerStreamWriter<HostEvent> responseStream, ServerCallContext context) =>
        Authenticate(context).HoldAttachmentAsync(responseStream, context.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _communicator.Dispose();
        if (_socketDirectory is not null && Directory.Exists(_socketDirectory))
        {
            Directory.Delete(_socketDirectory, recursive: true);
        }
    }

    /// <summary>Registered as the gRPC service; forwards to the host once it exists.</summary>
    internal sealed class RendezvousService(CommunicatorHost host) : Rendezvous.RendezvousBase
    {
        public override Task<RegisterReply> Register(RegisterRequest request, ServerCallContext context) => host.Register(request, context);

        public override Task Attach(AttachRequest request, IServerStreamWriter<HostEvent> responseStream, ServerCallContext context) =>
            host.Attach(request, responseStream, context);
    }

    private sealed class DeferredDispatcher(Func<ICallDispatcher> target) : ICallDispatcher
    {
        public ICallTarget Accept(ServerCallContext context) => target().Accept(context);
    }

    internal static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
