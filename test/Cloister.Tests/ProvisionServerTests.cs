using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Cloister.Remote;
using Cloister.Remote.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cloister.Tests;

/// <summary>
/// The provision server with real proxies, over mutual TLS on loopback: enclaves provisioned over the wire run, are
/// listed and terminated, and every failure leaves nothing behind on disk or in the process table.
/// </summary>
public sealed class ProvisionServerTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly TempFolder _folder = new();
    private readonly List<IAsyncDisposable> _owned = [];

    private string Certs => Path.Combine(_folder.Path, "certs");

    private string Work => Path.Combine(_folder.Path, "work");

    public ValueTask InitializeAsync()
    {
        DevelopmentCertificates.Create(Certs);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        _folder.Dispose();
    }

    private ChannelSecurity Mtls(string certificate = DevelopmentCertificates.Files.ServerCertificate, string key = DevelopmentCertificates.Files.ServerKey) => new()
    {
        Type = ChannelSecurityType.MutualTls,
        ServerCertificatePath = Path.Combine(Certs, DevelopmentCertificates.Files.ServerCertificate),
        ServerKeyPath = Path.Combine(Certs, DevelopmentCertificates.Files.ServerKey),
        ClientCertificatePath = Path.Combine(Certs, certificate),
        ClientKeyPath = Path.Combine(Certs, key),
        CaCertificatePath = Path.Combine(Certs, DevelopmentCertificates.Files.Ca),
    };

    private async Task<ProvisionServer> StartServerAsync(Action<ProvisionServerOptions>? configure = null)
    {
        var options = new ProvisionServerOptions { Security = Mtls(), WorkDirectory = Work, MaxEnclaves = 32, MaxEnclavesPerClient = 32, MetricsPort = 0 };
        configure?.Invoke(options);
        var server = await ProvisionServer.StartAsync(options, NullLoggerFactory.Instance);
        _owned.Add(server);
        return server;
    }

    private EnclaveManager Host(ProvisionServer server, Action<RemoteProvisionOptions>? configure = null, ChannelSecurity? security = null)
    {
        var provision = new RemoteProvisionOptions { ServerAddress = server.Address };
        configure?.Invoke(provision);

        // Twenty proxies starting at once on a 2-core machine take a while: the timeout bounds a hang, not a speed.
        var backend = new RemoteBackend(new RemoteProxyConfig
        {
            Security = security ?? Mtls(),
            HostAddress = "127.0.0.1:0",
            ProvisionServer = provision,
            ConnectTimeout = TimeSpan.FromSeconds(150),
        });
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        var manager = new EnclaveManager(options);
        _owned.Add(backend);
        _owned.Add(manager);
        return manager;
    }

    private static Task<EnclaveClient> LoadAsync(EnclaveManager manager, string name, string package, string? expectedMeasurement = null) =>
        manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = name,
            PackagePath = package,
            Backend = RemoteBackend.BackendName,
            ExpectedMeasurement = expectedMeasurement ?? "",
        }).AsTask().WaitAsync(Timeout);

    private string[] LeftOnDisk() => Directory.Exists(Work) ? Directory.GetFileSystemEntries(Work) : [];

    private async Task AssertCleanAsync(ProvisionServer server)
    {
        await WaitUntilAsync(() => server.RunningEnclaves == 0 && LeftOnDisk().Length == 0);
    }

    [Fact]
    public async Task An_enclave_provisioned_over_the_wire_runs_is_listed_and_leaves_nothing_when_destroyed()
    {
        var server = await StartServerAsync();
        var progress = new List<(long Sent, long Total)>();
        var manager = Host(server, o => o.Progress = new SynchronousProgress(p => { lock (progress) { progress.Add(p); } }));
        manager.HostCalls.Register("upper", (_, payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload.Span).ToUpperInvariant())));

        var client = await LoadAsync(manager, "shipped", enclave.PackagePath, enclave.Measurement);

        Assert.Equal("shipped", (await client.EnterAndRunAsync(new EnclaveInput { Text = "shipped" })).Text);
        Assert.Equal("HI", Encoding.UTF8.GetString((await client.InvokeAsync("host", "upper\nhi"u8.ToArray())).Span));
        Assert.Equal(new FileInfo(enclave.PackagePath).Length, progress[^1].Sent);
        Assert.Equal(progress[^1].Total, progress[^1].Sent);

        var listed = Assert.Single((await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves);
        Assert.Equal("shipped", listed.EnclaveName);
        Assert.Equal(enclave.Measurement, listed.Measurement);
        Assert.Equal("CN=cloister-dev-server", listed.Client);
        Assert.True(listed.WorkingSetBytes > 0);
        Assert.True(IsRunning(listed.ProcessId));

        await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
        await AssertCleanAsync(server);
        Assert.False(IsRunning(listed.ProcessId));
    }

    [Fact]
    public async Task Its_proxies_serve_metrics_that_Prometheus_discovers_through_the_server()
    {
        // "localhost", which Kestrel cannot bind with port 0 as such: the server and its proxies take 127.0.0.1.
        var server = await StartServerAsync(o => o.MetricsAddress = "localhost");
        var manager = Host(server);
        var first = await LoadAsync(manager, "scraped-a", enclave.PackagePath);
        var second = await LoadAsync(manager, "scraped-b", enclave.PackagePath);
        await first.EnterAndRunAsync(new EnclaveInput { Text = "a" });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        // Prometheus's HTTP service discovery: one target group per running proxy, labelled with its id on the server.
        var groups = await TargetGroupsAsync(http, server);
        Assert.Equal(2, groups.Count);
        var listed = (await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves;
        foreach (var (target, id) in groups)
        {
            Assert.StartsWith("127.0.0.1:", target, StringComparison.Ordinal);
            var info = Assert.Single(listed, e => e.Id == id);
            Assert.Equal($"http://{target}/metrics", info.MetricsEndpoint);
            var text = await http.GetStringAsync(info.MetricsEndpoint, TestContext.Current.CancellationToken);
            var samples = PrometheusText.Parse(text);
            Assert.True(samples.Any(s => s.Name == "cloister_proxy_uptime_seconds" && s.Label("cloister_enclave_name") == info.EnclaveName), text);
            Assert.True(samples.Any(s => s.Name == "cloister_proxy_memory_working_set_bytes" && s.Label("cloister_enclave_name") == info.EnclaveName && s.Value > 0), text);
        }

        // `cloister status` on the server's metrics address shows the server and each of its proxies.
        var status = await ServerStatus.ReadAsync(server.MetricsUrl!, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(status.IsProvisionServer);
        Assert.Equal(2, status.Proxies.Count);
        var described = string.Join('\n', status.Describe());
        Assert.Contains("enclave       scraped-a (backend remote", described, StringComparison.Ordinal);
        Assert.Contains("enclave       scraped-b (backend remote", described, StringComparison.Ordinal);
        Assert.Equal(2, status.Describe().Count(l => l.StartsWith("Proxy at http://127.0.0.1:", StringComparison.Ordinal) && l.EndsWith(": SERVING", StringComparison.Ordinal)));

        // The entry call made on the first shows on the first proxy's own endpoint, and only there.
        var firstTarget = groups.Single(g => listed.Single(e => e.Id == g.Id).EnclaveName == "scraped-a").Target;
        var firstSamples = PrometheusText.Parse(await http.GetStringAsync($"http://{firstTarget}/metrics", TestContext.Current.CancellationToken));
        Assert.Contains(firstSamples, s => s.Name == "cloister_calls_completed_total" && s.Label("cloister_call_selector") == "cloister.run" && s.Value >= 1);
        Assert.DoesNotContain(firstSamples, s => s.Label("cloister_enclave_name") == "scraped-b");

        await manager.DestroyEnclaveAsync(first).AsTask().WaitAsync(Timeout);
        await WaitUntilAsync(() => server.RunningEnclaves == 1);
        var (_, remaining) = Assert.Single(await TargetGroupsAsync(http, server));
        Assert.Equal("scraped-b", Assert.Single((await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves, e => e.Id == remaining).EnclaveName);
        await manager.DestroyEnclaveAsync(second).AsTask().WaitAsync(Timeout);
        await AssertCleanAsync(server);
        Assert.Empty(await TargetGroupsAsync(http, server));
    }

    [Fact]
    public async Task An_enclave_name_that_looks_like_a_command_line_argument_is_only_a_name()
    {
        // The name comes from the remote caller and goes on the proxy's command line: as a response file ("@path") it
        // would splice a file of the server into the proxy's arguments, as an option ("--debug") change them.
        var secret = _folder.File("server-secret.txt");
        await File.WriteAllTextAsync(secret, "server-secret-line", TestContext.Current.CancellationToken);
        var server = await StartServerAsync();
        var manager = Host(server);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        foreach (var name in (string[])["@" + secret, "--debug", "--debug=true", "--listen-address=0.0.0.0:1"])
        {
            var client = await LoadAsync(manager, name, enclave.PackagePath);
            Assert.Equal("x", (await client.EnterAndRunAsync(new EnclaveInput { Text = "x" })).Text);

            // What the proxy took for its name is on its own metrics.
            var listed = Assert.Single((await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves);
            var text = await http.GetStringAsync(listed.MetricsEndpoint, TestContext.Current.CancellationToken);
            Assert.Contains(PrometheusText.Parse(text), s => s.Name == "cloister_proxy_uptime_seconds" && s.Label("cloister_enclave_name") == name);
            Assert.DoesNotContain("server-secret-line", text, StringComparison.Ordinal);

            await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
            await AssertCleanAsync(server);
        }
    }

    [Theory]
    [InlineData("unix:/run/some.sock", null, false, true)]
    [InlineData("unix:/run/some.sock", "127.0.0.1", false, true)]
    [InlineData("unix:/run/some.sock", "::1", false, true)]
    [InlineData("unix:/run/some.sock", "::ffff:127.0.0.1", false, true)]
    [InlineData("unix:/run/some.sock", "192.0.2.7", false, false)]
    [InlineData("unix:/run/some.sock", "192.0.2.7", true, false)]
    [InlineData("unix:/run/some.sock", "2001:db8::7", false, false)]
    [InlineData("192.0.2.7:50000", "192.0.2.7", false, true)]
    [InlineData("192.0.2.7:50000", "::ffff:192.0.2.7", false, true)]
    [InlineData("0.0.0.0:50000", "192.0.2.7", false, true)]
    [InlineData("[::]:50000", "2001:db8::7", false, true)]
    [InlineData("[2001:db8::7]:50000", "2001:db8::7", false, true)]
    [InlineData("127.0.0.1:22", "192.0.2.7", false, false)]
    [InlineData("localhost:22", "192.0.2.7", false, false)]
    [InlineData("198.51.100.9:50000", "192.0.2.7", false, false)]
    [InlineData("198.51.100.9:50000", "192.0.2.7", true, true)]
    [InlineData("host.example:50000", "192.0.2.7", false, false)]
    [InlineData("host.example:50000", "192.0.2.7", true, true)]
    [InlineData("198.51.100.9:50000", "127.0.0.1", false, true)]
    public void A_caller_on_another_machine_may_only_name_itself_as_the_client_address(string address, string? peer, bool allowAny, bool allowed)
    {
        // The refusals cannot be shown with a real caller: tests only use loopback, from where any address is fine.
        var peerAddress = peer is null ? null : System.Net.IPAddress.Parse(peer);
        Assert.Equal(allowed, ProvisionerService.IsAllowedClientAddress(EndpointAddress.Parse(address, "client_address"), peerAddress, allowAny));
    }

    private static async Task<List<(string Target, string Id)>> TargetGroupsAsync(HttpClient http, ProvisionServer server)
    {
        using var response = await http.GetAsync(server.ScrapeTargetsUrl, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return json.RootElement.EnumerateArray()
            .Select(g => (Assert.Single(g.GetProperty("targets").EnumerateArray()).GetString()!, g.GetProperty("labels").GetProperty("cloister_enclave_id").GetString()!))
            .ToList();
    }

    [Fact]
    public async Task Twenty_enclaves_provisioned_at_once_all_run()
    {
        // No metrics: twenty metrics endpoints more to start at once would only slow the test on a small machine.
        var server = await StartServerAsync(o => o.MetricsPort = null);
        var manager = Host(server);

        var clients = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = $"crowd-{i}",
            PackagePath = enclave.PackagePath,
            Backend = RemoteBackend.BackendName,
        }).AsTask())).WaitAsync(TimeSpan.FromSeconds(180));

        Assert.Equal(20, server.RunningEnclaves);
        var replies = await Task.WhenAll(clients.Select(c => c.EnterAndRunAsync(new EnclaveInput { Text = c.Name }).AsTask()));
        Assert.Equal(clients.Select(c => c.Name), replies.Select(r => r.Text));
        await Task.WhenAll(clients.Select(c => manager.DestroyEnclaveAsync(c).AsTask())).WaitAsync(Timeout);
        await AssertCleanAsync(server);
    }

    [Fact]
    public async Task A_caller_without_a_client_certificate_runs_nothing()
    {
        var server = await StartServerAsync();
        var tlsOnly = Mtls();
        tlsOnly.Type = ChannelSecurityType.Tls;
        var manager = Host(server, o => o.Security = tlsOnly);

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "anonymous", enclave.PackagePath));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("client certificate", ex.Message);
        Assert.Empty(LeftOnDisk());
        Assert.Equal(0, server.RunningEnclaves);

        // Refused at the TLS handshake, before any Cloister code: the server's metrics show it as Kestrel's failed handshake.
        // (Kestrel records the handshake after the client has seen it fail: the figure may come a moment later.)
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var port = new Uri("http://" + server.Address).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var text = await http.GetStringAsync(server.MetricsUrl, TestContext.Current.CancellationToken);
            if (PrometheusText.Parse(text).Any(s => s.Name == "kestrel_tls_handshake_duration_seconds_count" && s.Label("server_port") == port && !string.IsNullOrEmpty(s.Label("error_type")) && s.Value >= 1))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, text);
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_token_server_refuses_callers_without_the_token()
    {
        var tokenFile = _folder.File("token");
        await File.WriteAllTextAsync(tokenFile, "0123456789abcdef0123456789abcdef");
        var server = await StartServerAsync(o =>
        {
            o.Security = ChannelSecurity.Insecure;
            o.TokenFile = tokenFile;
        });

        var stranger = Host(server, security: ChannelSecurity.Insecure);
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(stranger, "no-token", enclave.PackagePath));
        Assert.Equal(EnclaveStatusCode.Unauthenticated, ex.StatusCode);
        Assert.Contains("bearer token", ex.Message);
        Assert.Empty(LeftOnDisk());
        Assert.Equal(1, await RejectionsAsync(server, "unauthenticated"));

        var friend = Host(server, o => o.BearerToken = "0123456789abcdef0123456789abcdef", ChannelSecurity.Insecure);
        var client = await LoadAsync(friend, "with-token", enclave.PackagePath);
        Assert.Equal("ok", (await client.EnterAndRunAsync(new EnclaveInput { Text = "ok" })).Text);
    }

    [Fact]
    public async Task A_server_without_authentication_refuses_to_start_unless_told_to_allow_insecure()
    {
        var ex = await Assert.ThrowsAsync<EnclaveException>(() => StartServerAsync(o => o.Security = ChannelSecurity.Insecure));
        Assert.Contains("--allow-insecure", ex.Message);

        var server = await StartServerAsync(o =>
        {
            o.Security = ChannelSecurity.Insecure;
            o.AllowInsecure = true;
        });
        Assert.StartsWith("127.0.0.1:", server.Address, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_measurement_not_on_the_allow_list_is_PermissionDenied_and_not_run()
    {
        var server = await StartServerAsync(o => o.AllowedMeasurements.Add(new string('b', 64)));
        var manager = Host(server);

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "unlisted", enclave.PackagePath));

        Assert.Equal(EnclaveStatusCode.PermissionDenied, ex.StatusCode);
        Assert.Contains(enclave.Measurement, ex.Message);
        await AssertCleanAsync(server);
        Assert.Equal(1, await RejectionsAsync(server, "not_allowed"));
    }

    [Fact]
    public async Task A_package_with_a_zip_slip_entry_is_refused_and_removed()
    {
        var server = await StartServerAsync();
        var manager = Host(server);
        var evil = _folder.File("evil.cloister");
        File.Copy(enclave.PackagePath, evil);
        using (var zip = ZipFile.Open(evil, ZipArchiveMode.Update))
        {
            await using var stream = zip.CreateEntry("../../escaped.txt").Open();
            await stream.WriteAsync("gotcha"u8.ToArray());
        }

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "slip", evil));

        Assert.Equal(EnclaveStatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("escapes the package folder", ex.Message);
        await AssertCleanAsync(server);
        Assert.Equal(1, await RejectionsAsync(server, "invalid_package"));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "escaped.txt")));
    }

    [Fact]
    public async Task A_package_over_the_servers_cap_is_ResourceExhausted_before_the_upload()
    {
        var server = await StartServerAsync(o => o.PackageLimits.MaxPackageBytes = 1024);
        var manager = Host(server);

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "big", enclave.PackagePath));

        Assert.Equal(EnclaveStatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("--max-package-bytes", ex.Message);
        await AssertCleanAsync(server);
        Assert.Equal(1, await RejectionsAsync(server, "too_large"));
    }

    [Fact]
    public async Task An_upload_cut_mid_stream_leaves_nothing_and_the_server_keeps_serving()
    {
        var server = await StartServerAsync();
        var bytes = await File.ReadAllBytesAsync(enclave.PackagePath);
        using (var call = Admin(server).Provision())
        {
            await call.RequestStream.WriteAsync(new ProvisionMessage
            {
                Start = new ProvisionStart { EnclaveName = "cut", ClientAddress = "127.0.0.1:1", SessionToken = "t", PackageSize = (ulong)bytes.Length },
            });
            await call.RequestStream.WriteAsync(new ProvisionMessage { Chunk = ByteString.CopyFrom(bytes, 0, bytes.Length / 2) });
            await WaitUntilAsync(() => server.RunningEnclaves == 1);
        } // the host "dies": the call is reset mid-upload

        await AssertCleanAsync(server);
        Assert.Equal(1, await RejectionsAsync(server, "upload_failed"));
        var client = await LoadAsync(Host(server), "after-cut", enclave.PackagePath);
        Assert.Equal("fine", (await client.EnterAndRunAsync(new EnclaveInput { Text = "fine" })).Text);
    }

    [Fact]
    public async Task A_killed_proxy_fails_its_calls_and_the_server_cleans_up()
    {
        var server = await StartServerAsync();
        var manager = Host(server);
        var client = await LoadAsync(manager, "victim", enclave.PackagePath);
        var pid = Assert.Single((await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves).ProcessId;

        Process.GetProcessById(pid).Kill();

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => client.EnterAndRunAsync(new EnclaveInput()).AsTask().WaitAsync(Timeout));
        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("'victim'", ex.Message);
        await AssertCleanAsync(server);
        await manager.DestroyEnclaveAsync(client).AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public async Task Terminate_stops_one_enclave_and_leaves_the_others()
    {
        var server = await StartServerAsync();
        var manager = Host(server);
        var doomed = await LoadAsync(manager, "doomed", enclave.PackagePath);
        var spared = await LoadAsync(manager, "spared", enclave.PackagePath);
        var id = (await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves.Single(e => e.EnclaveName == "doomed").Id;

        Assert.True((await Admin(server).TerminateAsync(new TerminateRequest { Id = id })).Terminated);

        await WaitUntilAsync(() => server.RunningEnclaves == 1);
        await Assert.ThrowsAsync<EnclaveException>(() => doomed.EnterAndRunAsync(new EnclaveInput()).AsTask().WaitAsync(Timeout));
        Assert.Equal("alive", (await spared.EnterAndRunAsync(new EnclaveInput { Text = "alive" })).Text);
        var missing = await Assert.ThrowsAsync<RpcException>(() => Admin(server).TerminateAsync(new TerminateRequest { Id = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Stopping_the_server_stops_its_enclaves()
    {
        var server = await StartServerAsync();
        var client = await LoadAsync(Host(server), "orphan", enclave.PackagePath);
        var pid = Assert.Single((await Admin(server).ListEnclavesAsync(new ListEnclavesRequest())).Enclaves).ProcessId;

        await server.DisposeAsync();

        await WaitUntilAsync(() => !IsRunning(pid));
        Assert.Empty(LeftOnDisk());
        await Assert.ThrowsAsync<EnclaveException>(() => client.EnterAndRunAsync(new EnclaveInput()).AsTask().WaitAsync(Timeout));
    }

    /// <summary>
    /// The server's count of refusals for <paramref name="reason"/>, from its metrics endpoint. The tests of this class run
    /// one at a time, and no other test runs a provision server in this process, so the figures are this server's.
    /// </summary>
    private static async Task<double> RejectionsAsync(ProvisionServer server, string reason)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync(server.MetricsUrl, TestContext.Current.CancellationToken);
        return PrometheusText.Parse(text)
            .Where(s => s.Name == "cloister_provision_server_rejections_total" && s.Label("cloister_rejection_reason") == reason)
            .Sum(s => s.Value);
    }

    private Provisioner.ProvisionerClient Admin(ProvisionServer server)
    {
        var channel = EndpointAddress.Parse(server.Address, "test").CreateChannel(Mtls());
        _owned.Add(new DisposableChannel(channel));
        return new Provisioner.ProvisionerClient(channel);
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

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true in time.");
            await Task.Delay(20);
        }
    }

    private sealed class SynchronousProgress(Action<(long Sent, long Total)> report) : IProgress<(long Sent, long Total)>
    {
        public void Report((long Sent, long Total) value) => report(value);
    }

    private sealed class DisposableChannel(Grpc.Net.Client.GrpcChannel channel) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            channel.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
