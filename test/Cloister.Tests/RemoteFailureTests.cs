using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Cloister.Remote;
using Cloister.Remote.Protocol;
using Grpc.Core;
using Google.Protobuf;

namespace Cloister.Tests;

/// <summary>
/// The remote backend under failure, with real processes: proxies killed, hosts killed, proxies that never report in
/// or report in wrongly, and garbage on the wire. Each failure is a clear error, never a hang or an orphan.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RemoteFailureTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly List<RemoteBackend> _backends = [];
    private readonly List<EnclaveManager> _managers = [];
    private readonly TempFolder _folder = new();

    public async ValueTask DisposeAsync()
    {
        foreach (var manager in _managers)
        {
            await manager.DisposeAsync();
        }

        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        _folder.Dispose();
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    private EnclaveManager CreateManager(RemoteProxyConfig? config = null)
    {
        var backend = new RemoteBackend(config ?? new RemoteProxyConfig());
        _backends.Add(backend);
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        var manager = new EnclaveManager(options);
        _managers.Add(manager);
        return manager;
    }

    private EnclaveLoadConfig Config(string name, params (string Key, string Value)[] environment)
    {
        var config = new EnclaveLoadConfig { Name = name, PackagePath = enclave.PackagePath, Backend = RemoteBackend.BackendName, Config = new EnclaveConfig() };
        foreach (var (key, value) in environment)
        {
            config.Config.Environment[key] = value;
        }

        return config;
    }

    private static LocalProxyProvision ProvisionOf(EnclaveClient client) => (LocalProxyProvision)((ProxyClient)client.Transport!).Provision;

    [Fact]
    public async Task Proxy_killed_with_32_calls_in_flight_fails_them_all_fast_with_Unavailable_naming_the_exit()
    {
        var manager = CreateManager();
        var client = await manager.LoadEnclaveAsync(Config("doomed")).AsTask().WaitAsync(Timeout);
        var pid = ProvisionOf(client).ProcessId!.Value;

        var calls = Enumerable.Range(0, 32).Select(_ => client.InvokeAsync("wait", Array.Empty<byte>()).AsTask()).ToArray();
        await WaitUntilAsync(async () => Encoding.UTF8.GetString((await client.InvokeAsync("wait-stats", Array.Empty<byte>())).Span) == "32/0");

        var killed = Stopwatch.StartNew();
        Process.GetProcessById(pid).Kill();
        var failures = new List<EnclaveException>();
        foreach (var call in calls)
        {
            failures.Add(await Assert.ThrowsAsync<EnclaveException>(() => call.WaitAsync(Timeout)));
        }

        var elapsed = killed.Elapsed;
        TestContext.Current.SendDiagnosticMessage($"32 pending calls failed {elapsed.TotalMilliseconds:0} ms after SIGKILL");
        Assert.All(failures, f =>
        {
            Assert.Equal(EnclaveStatusCode.Unavailable, f.StatusCode);
            Assert.Contains("'doomed'", f.Message);
            Assert.Contains("SIGKILL", f.Message);
        });
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"Pending calls took {elapsed} to fail after the proxy was killed.");

        // The dead enclave can be destroyed, its name reused, and the manager keeps working.
        await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        var again = await manager.LoadEnclaveAsync(Config("doomed")).AsTask().WaitAsync(Timeout);
        Assert.Equal("back", (await again.EnterAndRunAsync(new EnclaveInput { Text = "back" })).Text);
    }

    [Fact]
    public async Task Proxy_exits_by_itself_when_its_host_is_killed()
    {
        var hostDll = Path.Combine(AppContext.BaseDirectory, "enclaves", "TestHost", "Cloister.TestHost.dll");
        using var host = Process.Start(new ProcessStartInfo("dotnet") { ArgumentList = { hostDll, enclave.PackagePath }, RedirectStandardOutput = true, UseShellExecute = false })!;
        int proxyPid;
        try
        {
            string? line;
            do
            {
                line = await host.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout);
            }
            while (line is not null && !line.StartsWith("PROXY_PID=", StringComparison.Ordinal));

            Assert.NotNull(line);
            proxyPid = int.Parse(line["PROXY_PID=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(IsRunning(proxyPid));
        }
        finally
        {
            host.Kill();
        }

        var killed = Stopwatch.StartNew();
        await WaitUntilAsync(() => Task.FromResult(!IsRunning(proxyPid)));
        TestContext.Current.SendDiagnosticMessage($"The proxy exited {killed.Elapsed.TotalMilliseconds:0} ms after its host was killed");
    }

    [Fact]
    public async Task Proxy_that_never_reports_in_fails_the_load_with_DeadlineExceeded_and_is_stopped()
    {
        var script = _folder.File("silent-proxy.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\necho \"silent proxy $$ started\"\nexec sleep 60\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        LocalProxyProvision? provision = null;
        var manager = CreateManager(new RemoteProxyConfig
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            ShutdownTimeout = TimeSpan.Zero,
            Provision = _ => provision = new LocalProxyProvision(new LocalProxyProvisionOptions { ProxyPath = script }),
        });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => manager.LoadEnclaveAsync(Config("silent")).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.Contains("'silent' did not report in within 1 s", ex.Message);
        Assert.Contains("silent proxy", ex.Message); // its output is quoted
        Assert.False(IsRunning(provision!.ProcessId!.Value));
        Assert.Null(manager.GetClient("silent"));
    }

    [Fact]
    public async Task Proxy_that_cannot_start_fails_the_load_with_its_exit()
    {
        var script = _folder.File("failing-proxy.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\necho 'no such option' >&2\nexit 7\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var manager = CreateManager(new RemoteProxyConfig { LocalProxy = new LocalProxyProvisionOptions { ProxyPath = script } });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => manager.LoadEnclaveAsync(Config("failing")).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("exited with exit code 7 before it reported in", ex.Message);
        Assert.Contains("no such option", ex.Message);
    }

    [Fact]
    public async Task Proxy_with_a_wrong_session_token_fails_the_load_with_Unauthenticated()
    {
        LocalProxyProvision? inner = null;
        var manager = CreateManager(new RemoteProxyConfig
        {
            Provision = _ => new TamperingProvision(inner = new LocalProxyProvision()),
        });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => manager.LoadEnclaveAsync(Config("impostor")).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.Unauthenticated, ex.StatusCode);
        Assert.Contains("wrong session token", ex.Message);
        await WaitUntilAsync(() => Task.FromResult(!IsRunning(inner!.ProcessId!.Value)));
    }

    [Fact]
    public async Task Proxy_exiting_during_Initialize_fails_the_load_and_frees_the_name()
    {
        var manager = CreateManager();
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => manager.LoadEnclaveAsync(Config("quitter", ("EXIT_IN_INIT", "3"))).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("'quitter'", ex.Message);
        Assert.Contains("exit code 3", ex.Message);
        var client = await manager.LoadEnclaveAsync(Config("quitter")).AsTask().WaitAsync(Timeout);
        Assert.Equal("ok", (await client.EnterAndRunAsync(new EnclaveInput { Text = "ok" })).Text);
    }

    [Fact]
    public async Task Package_errors_found_by_the_proxy_reach_the_host_with_their_code()
    {
        var manager = CreateManager();
        var config = Config("mismeasured");
        config.ExpectedMeasurement = new string('a', 64);

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => manager.LoadEnclaveAsync(config).AsTask().WaitAsync(Timeout));

        Assert.Equal(EnclaveStatusCode.PermissionDenied, ex.StatusCode);
        Assert.Contains(enclave.Measurement, ex.Message);
    }

    [Fact]
    public async Task Garbage_and_intruders_on_the_proxy_port_are_refused_and_the_proxy_keeps_serving()
    {
        var manager = CreateManager(new RemoteProxyConfig { HostAddress = "127.0.0.1:0" });
        var client = await manager.LoadEnclaveAsync(Config("sturdy")).AsTask().WaitAsync(Timeout);
        var endpoint = ((ProxyClient)client.Transport!).Endpoint!;
        Assert.StartsWith("127.0.0.1:", endpoint, StringComparison.Ordinal);
        var port = int.Parse(endpoint.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);

        // Raw garbage: the connection is dropped.
        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
            var stream = socket.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + new string('\0', 4096)), TestContext.Current.CancellationToken);
            var buffer = new byte[1024];
            while (await stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout) > 0)
            {
            }
        }

        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{endpoint}");
        var intruder = new Communicator.CommunicatorClient(channel);

        // A well-formed call without the session token.
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(() => intruder.InvokeAsync(new CallRequest { Selector = "echo" }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);

        // An oversized message.
        var oversized = await Assert.ThrowsAsync<RpcException>(() =>
            intruder.InvokeAsync(new CallRequest { Selector = "echo", Payload = ByteString.CopyFrom(new byte[8 * 1024 * 1024]) }).ResponseAsync.WaitAsync(Timeout));
        Assert.Equal(StatusCode.ResourceExhausted, oversized.StatusCode);

        Assert.Equal("still here", (await client.EnterAndRunAsync(new EnclaveInput { Text = "still here" })).Text);
    }

    [Theory]
    [InlineData(4 * 1024 * 1024)]
    [InlineData(64 * 1024 * 1024)]
    public async Task Large_payloads_cross_in_both_directions(int size)
    {
        var manager = CreateManager();
        var client = await manager.LoadEnclaveAsync(Config("bulk")).AsTask().WaitAsync(Timeout);
        var payload = new byte[size];
        Random.Shared.NextBytes(payload);

        var reply = await client.InvokeAsync("reverse", payload).AsTask().WaitAsync(Timeout);

        Assert.Equal(size, reply.Length);
        Array.Reverse(payload);
        Assert.True(reply.Span.SequenceEqual(payload));
    }

    /// <summary>
    /// The session protocol on the wire, spoken by hand to a real proxy: the session token is checked when a session
    /// opens, the proxy enforces a call's <c>timeout_micros</c> by itself, a cancel frame cancels the enclave's token and
    /// gets no reply, a call id that is already running is refused, and replies name their calls.
    /// </summary>
    [Fact]
    public async Task The_proxy_enforces_the_session_protocol_by_itself()
    {
        var manager = CreateManager(new RemoteProxyConfig { HostAddress = "127.0.0.1:0" });
        var client = await manager.LoadEnclaveAsync(Config("wire")).AsTask().WaitAsync(Timeout);
        var transport = (ProxyClient)client.Transport!;
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://{transport.Endpoint}");
        var communicator = new Communicator.CommunicatorClient(channel);

        // No token: the session is refused before any call runs.
        using (var intruder = communicator.Session())
        {
            await intruder.RequestStream.WriteAsync(new SessionFrame { Call = new CallRequest { Selector = "echo", CallId = 1 } });
            var refused = await Assert.ThrowsAsync<RpcException>(() => intruder.ResponseStream.MoveNext(TestContext.Current.CancellationToken).WaitAsync(Timeout));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        }

        using var session = communicator.Session(new Metadata { { "cloister-session", transport.SessionToken } });
        var replies = new System.Collections.Concurrent.ConcurrentQueue<CallReply>();
        var reading = Task.Run(async () =>
        {
            while (await session.ResponseStream.MoveNext(CancellationToken.None))
            {
                replies.Enqueue(session.ResponseStream.Current.Reply);
            }
        }, TestContext.Current.CancellationToken);

        // A call that would wait forever, given 300 ms: the proxy answers DeadlineExceeded without the caller's help.
        var started = Stopwatch.StartNew();
        await session.RequestStream.WriteAsync(new SessionFrame { Call = new CallRequest { Selector = "wait", CallId = 10, TimeoutMicros = 300_000 } });
        var timedOut = await ReplyTo(10);
        Assert.Equal((int)EnclaveStatusCode.DeadlineExceeded, timedOut.Error.Code);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));

        // A waiting call, the same id again (refused while the first runs), then a cancel frame for the first.
        await session.RequestStream.WriteAsync(new SessionFrame { Call = new CallRequest { Selector = "wait", CallId = 11 } });
        await WaitUntilAsync(async () => Encoding.UTF8.GetString((await client.InvokeAsync("wait-stats", ReadOnlyMemory<byte>.Empty)).Span) == "2/1");
        await session.RequestStream.WriteAsync(new SessionFrame { Call = new CallRequest { Selector = "echo", CallId = 11 } });
        var duplicate = await ReplyTo(11);
        Assert.Equal((int)EnclaveStatusCode.InvalidArgument, duplicate.Error.Code);
        await session.RequestStream.WriteAsync(new SessionFrame { Cancel = 11 });
        await WaitUntilAsync(async () => Encoding.UTF8.GetString((await client.InvokeAsync("wait-stats", ReadOnlyMemory<byte>.Empty)).Span) == "2/2");

        // Replies come back by call id, and the cancelled call got none.
        await session.RequestStream.WriteAsync(new SessionFrame { Call = new CallRequest { Selector = "echo", CallId = 12, Payload = ByteString.CopyFromUtf8("twelve") } });
        Assert.Equal("twelve", (await ReplyTo(12)).Payload.ToStringUtf8());
        await session.RequestStream.CompleteAsync();
        await reading.WaitAsync(Timeout);
        Assert.Equal([10UL, 11UL, 12UL], replies.Select(r => r.CallId));

        async Task<CallReply> ReplyTo(ulong callId)
        {
            CallReply? reply = null;
            await WaitUntilAsync(() => Task.FromResult((reply = replies.FirstOrDefault(r => r.CallId == callId)) is not null));
            return reply!;
        }
    }

    /// <summary>
    /// Each size on each side of the communicator's two thresholds (a call on the session up to 64 KiB, a unary call up
    /// to 1 MiB, streamed above), for requests, for replies to small requests, and for host calls and their replies.
    /// </summary>
    [Fact]
    public async Task Payloads_on_each_side_of_the_size_thresholds_cross_both_ways()
    {
        int[] sizes = [0, 1, 64 * 1024, 64 * 1024 + 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 7];
        var manager = CreateManager();
        manager.HostCalls.Register("grow", (_, payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Pattern(BitConverter.ToInt32(payload.Span))));
        manager.HostCalls.Register("length", (_, payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(BitConverter.GetBytes(payload.Length)));
        var client = await manager.LoadEnclaveAsync(Config("sizes")).AsTask().WaitAsync(Timeout);

        foreach (var size in sizes)
        {
            var payload = Pattern(size);
            Assert.True((await client.InvokeAsync("echo", payload).AsTask().WaitAsync(Timeout)).Span.SequenceEqual(payload), $"echo of {size} B");
            Assert.True((await client.InvokeAsync("grow", BitConverter.GetBytes(size)).AsTask().WaitAsync(Timeout)).Span.SequenceEqual(payload), $"reply of {size} B");
            Assert.True((await client.InvokeAsync("host", HostCall("grow", BitConverter.GetBytes(size))).AsTask().WaitAsync(Timeout)).Span.SequenceEqual(payload),
                $"host call reply of {size} B");
        }

        // A host call's request crosses at each size too: the host handler answers with the length it received.
        foreach (var size in sizes.Where(s => s < 1024 * 1024))
        {
            var reply = await client.InvokeAsync("host", HostCall("length", new byte[size])).AsTask().WaitAsync(Timeout);
            Assert.Equal(size, BitConverter.ToInt32(reply.Span));
        }

        static byte[] HostCall(string selector, byte[] body) => [.. Encoding.UTF8.GetBytes(selector + "\n"), .. body];
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }

        return bytes;
    }

    [Theory]
    [InlineData("127.0.0.1:0")]
    [InlineData("[::1]:0")]
    [InlineData(null)]
    public async Task Proxies_connect_over_IPv4_IPv6_and_Unix_sockets(string? hostAddress)
    {
        var manager = CreateManager(new RemoteProxyConfig { HostAddress = hostAddress });
        var client = await manager.LoadEnclaveAsync(Config("addressed")).AsTask().WaitAsync(Timeout);
        var endpoint = ((ProxyClient)client.Transport!).Endpoint!;
        Assert.StartsWith(hostAddress switch { null => "unix:/", "[::1]:0" => "[::1]:", _ => "127.0.0.1:" }, endpoint, StringComparison.Ordinal);
        Assert.Equal("hi", (await client.EnterAndRunAsync(new EnclaveInput { Text = "hi" })).Text);
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true in time.");
            await Task.Delay(20);
        }
    }

    /// <summary>Starts a real proxy but hands it a different session token than the host expects.</summary>
    private sealed class TamperingProvision(LocalProxyProvision inner) : IRemoteProvision
    {
        public Task<ProxyExitStatus> Exited => inner.Exited;

        public string RecentOutput => inner.RecentOutput;

        public string? ProxyHost => null;

        public ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken) =>
            inner.ProvisionAsync(request with { SessionToken = "not-the-token" }, cancellationToken);

        public ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default) => inner.FinalizeAsync(gracePeriod, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
