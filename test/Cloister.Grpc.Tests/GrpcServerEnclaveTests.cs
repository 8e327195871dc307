using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Cloister.Remote;
using Cloister.Testing.Grpc;
using Grpc.Core;
using Grpc.Net.Client;

namespace Cloister.Grpc.Tests;

/// <summary>GrpcServerEnclave's contract, on both backends, with the slow test enclave.</summary>
public sealed class GrpcServerEnclaveTests(GrpcPackages packages) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly RemoteBackend _remote = new();
    private EnclaveManager _manager = null!;

    public ValueTask InitializeAsync()
    {
        var options = new EnclaveManagerOptions { ConsoleOut = TextWriter.Null };
        options.Backends.Add(_remote);
        _manager = new EnclaveManager(options);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _manager.DisposeAsync();
        await _remote.DisposeAsync();
    }

    private Task<EnclaveClient> LoadAsync(string name, string backend, string? address) =>
        _manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = name,
            PackagePath = packages.Slow,
            Backend = backend,
            Config = address is null ? new EnclaveConfig() : new EnclaveConfig().WithExtension(GrpcServerExtensions.ServerAddress, address),
        }).AsTask().WaitAsync(Timeout);

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task Run_reports_the_bound_port_every_time(string backend)
    {
        var client = await LoadAsync("ports", backend, "127.0.0.1:0");
        var first = (await client.EnterAndRunAsync(new EnclaveInput())).GetExtensionValue(GrpcServerExtensions.ActualServerPort);
        var second = (await client.EnterAndRunAsync(new EnclaveInput())).GetExtensionValue(GrpcServerExtensions.ActualServerPort);
        Assert.InRange(first, 1, 65535);
        Assert.Equal(first, second);

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{first}");
        var reply = await new Slow.SlowClient(channel).SleepAsync(new SleepRequest { Milliseconds = 1 }, deadline: DateTime.UtcNow + Timeout);
        Assert.True(reply.Completed);
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task A_missing_or_unparsable_address_fails_the_load_with_InvalidArgument(string backend)
    {
        var missing = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync("no-address", backend, null));
        Assert.Equal(EnclaveStatusCode.InvalidArgument, missing.StatusCode);
        Assert.Contains("server_address", missing.Message);

        var garbled = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync("bad-address", backend, "127.0.0.1:http"));
        Assert.Equal(EnclaveStatusCode.InvalidArgument, garbled.StatusCode);
        Assert.Contains("'127.0.0.1:http'", garbled.Message);
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task An_address_in_use_fails_the_load_with_FailedPrecondition_naming_it(string backend)
    {
        using var occupier = new TcpListener(IPAddress.Loopback, 0);
        occupier.Start();
        var address = $"127.0.0.1:{((IPEndPoint)occupier.LocalEndpoint).Port}";

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync("busy", backend, address));

        Assert.Equal(EnclaveStatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains(address, ex.Message);
        Assert.Null(_manager.GetClient("busy"));
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task Server_tls_that_cannot_be_loaded_fails_the_load_with_InvalidArgument_naming_it(string backend)
    {
        var config = new EnclaveConfig()
            .WithExtension(GrpcServerExtensions.ServerAddress, "127.0.0.1:0")
            .WithExtension(GrpcServerExtensions.ServerTls, new ServerTls { CertificatePem = "not a certificate", PrivateKeyPem = "not a key" });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => _manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = "bad-tls",
            PackagePath = packages.Slow,
            Backend = backend,
            Config = config,
        }).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("The server_tls extension of EnclaveConfig holds a server certificate that cannot be loaded", ex.Message);
        Assert.Null(_manager.GetClient("bad-tls"));
    }

    [Theory]
    [InlineData("sim")]
    [InlineData("remote")]
    public async Task Finalize_lets_short_calls_finish_and_cancels_long_ones_after_the_grace_period(string backend)
    {
        var client = await LoadAsync("draining", backend, "127.0.0.1:0");
        var port = (await client.EnterAndRunAsync(new EnclaveInput())).GetExtensionValue(GrpcServerExtensions.ActualServerPort);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        var slow = new Slow.SlowClient(channel);
        await slow.SleepAsync(new SleepRequest { Milliseconds = 1 }); // connected

        var shortCalls = Enumerable.Range(0, 8).Select(_ => slow.SleepAsync(new SleepRequest { Milliseconds = 100 }).ResponseAsync).ToArray();
        var longCalls = Enumerable.Range(0, 8).Select(_ => slow.SleepAsync(new SleepRequest { Milliseconds = 60_000 }).ResponseAsync).ToArray();
        await Task.Delay(50);

        var destroying = Stopwatch.StartNew();
        await _manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        TestContext.Current.SendDiagnosticMessage($"Destroy with 8 long calls in flight took {destroying.ElapsedMilliseconds} ms ({backend})");

        Assert.All(await Task.WhenAll(shortCalls).WaitAsync(Timeout), r => Assert.True(r.Completed));
        foreach (var call in longCalls)
        {
            await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Timeout));
        }
    }

    [Fact]
    public async Task A_second_Initialize_is_refused()
    {
        var client = await LoadAsync("once", "sim", "127.0.0.1:0");
        var transport = (SimTransport)client.Transport!;
        var again = new EnclaveConfig().WithExtension(GrpcServerExtensions.ServerAddress, "127.0.0.1:0");

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => transport.InvokeAsync(Selectors.Initialize, Google.Protobuf.MessageExtensions.ToByteArray(again), null, default).AsTask());

        Assert.Equal(EnclaveStatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("already initialized", ex.Message);
    }
}
