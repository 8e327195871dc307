using System.Text;
using Cloister.Remote;

namespace Cloister.Tests;

/// <summary>TLS and mutual TLS on the remote backend's channels, with real certificates and real processes.</summary>
public sealed class RemoteSecurityTests(TestEnclaveFixture enclave) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly TempFolder _folder = new();
    private readonly List<IAsyncDisposable> _owned = [];

    private string Certs => Path.Combine(_folder.Path, "certs");

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

    private ChannelSecurity Security(ChannelSecurityType type, string? certs = null)
    {
        certs ??= Certs;
        return new ChannelSecurity
        {
            Type = type,
            ServerCertificatePath = Path.Combine(certs, DevelopmentCertificates.Files.ServerCertificate),
            ServerKeyPath = Path.Combine(certs, DevelopmentCertificates.Files.ServerKey),
            CaCertificatePath = Path.Combine(certs, DevelopmentCertificates.Files.Ca),
        };
    }

    private EnclaveManager Manager(RemoteProxyConfig config)
    {
        var backend = new RemoteBackend(config);
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        var manager = new EnclaveManager(options);
        _owned.Add(backend);
        _owned.Add(manager);
        return manager;
    }

    private Task<EnclaveClient> LoadAsync(EnclaveManager manager, string name) =>
        manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = name, PackagePath = enclave.PackagePath, Backend = RemoteBackend.BackendName }).AsTask().WaitAsync(Timeout);

    [Theory]
    [InlineData(ChannelSecurityType.Tls, "127.0.0.1:0")]
    [InlineData(ChannelSecurityType.MutualTls, "127.0.0.1:0")]
    [InlineData(ChannelSecurityType.MutualTls, "[::1]:0")]
    [InlineData(ChannelSecurityType.MutualTls, null)]
    public async Task Entry_and_host_calls_work_over_TLS_and_mutual_TLS(ChannelSecurityType type, string? hostAddress)
    {
        var manager = Manager(new RemoteProxyConfig { Security = Security(type), HostAddress = hostAddress });
        manager.HostCalls.Register("upper", (_, payload, _) => ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(payload.Span).ToUpperInvariant())));

        var client = await LoadAsync(manager, "secure");

        Assert.Equal("over tls", (await client.EnterAndRunAsync(new EnclaveInput { Text = "over tls" })).Text);
        Assert.Equal("SHOUT", Encoding.UTF8.GetString((await client.InvokeAsync("host", "upper\nshout"u8.ToArray())).Span));
    }

    [Fact]
    public async Task A_proxy_whose_certificate_another_CA_signed_is_refused()
    {
        var other = Path.Combine(_folder.Path, "other");
        DevelopmentCertificates.Create(other);
        var manager = Manager(new RemoteProxyConfig
        {
            Security = Security(ChannelSecurityType.MutualTls),
            HostAddress = "127.0.0.1:0",
            Provision = request => new ReplacingProvision(request with { Security = Security(ChannelSecurityType.MutualTls, other) }),
        });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "stranger"));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("before it reported in", ex.Message);
        Assert.Contains("SSL", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_plaintext_proxy_cannot_talk_to_a_TLS_host()
    {
        var manager = Manager(new RemoteProxyConfig
        {
            Security = Security(ChannelSecurityType.Tls),
            HostAddress = "127.0.0.1:0",
            Provision = request => new ReplacingProvision(request with { Security = ChannelSecurity.Insecure }),
            ConnectTimeout = TimeSpan.FromSeconds(15),
        });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "plaintext"));

        Assert.Contains("'plaintext'", ex.Message);
        Assert.True(ex.StatusCode is EnclaveStatusCode.Unavailable or EnclaveStatusCode.DeadlineExceeded, ex.ToString());
    }

    [Fact]
    public async Task An_expired_certificate_is_refused()
    {
        var expired = Path.Combine(_folder.Path, "expired");
        DevelopmentCertificates.Create(expired, validity: TimeSpan.FromMinutes(1)); // valid from 5 minutes ago to 4 minutes ago
        var manager = Manager(new RemoteProxyConfig { Security = Security(ChannelSecurityType.MutualTls, expired), HostAddress = "127.0.0.1:0" });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "expired"));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("SSL", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_client_certificate_whose_subject_is_not_pinned_is_refused()
    {
        var security = Security(ChannelSecurityType.MutualTls);
        security.AllowedClientSubjects.Add("CN=someone-else");
        var manager = Manager(new RemoteProxyConfig { Security = security, HostAddress = "127.0.0.1:0" });

        var ex = await Assert.ThrowsAsync<EnclaveException>(() => LoadAsync(manager, "unpinned"));

        Assert.Equal(EnclaveStatusCode.Unavailable, ex.StatusCode);
    }

    [Fact]
    public void Settings_that_cannot_work_are_refused_up_front_naming_the_flag()
    {
        var noCa = new ChannelSecurity { Type = ChannelSecurityType.Tls };
        var ex = Assert.Throws<EnclaveException>(() => new RemoteBackend(new RemoteProxyConfig { Security = noCa }));
        Assert.Contains("--ssl-ca-cert", ex.Message);

        var noKey = Security(ChannelSecurityType.Tls);
        noKey.ServerKeyPath = null;
        ex = Assert.Throws<EnclaveException>(noKey.Validate);
        Assert.Contains("--ssl-server-key", ex.Message);

        Assert.Equal(ChannelSecurityType.Insecure, ChannelSecurity.ParseType("local"));
        Assert.Equal(ChannelSecurityType.Tls, ChannelSecurity.ParseType("ssl"));
        Assert.Throws<ArgumentException>(() => ChannelSecurity.ParseType("tls13"));
    }

    /// <summary>A real local proxy started with a request the test changed.</summary>
    private sealed class ReplacingProvision(ProxyProvisionRequest replacement) : IRemoteProvision
    {
        private readonly LocalProxyProvision _inner = new();

        public Task<ProxyExitStatus> Exited => _inner.Exited;

        public string RecentOutput => _inner.RecentOutput;

        public string? ProxyHost => null;

        public ValueTask ProvisionAsync(ProxyProvisionRequest request, CancellationToken cancellationToken) =>
            _inner.ProvisionAsync(replacement with { SessionToken = request.SessionToken }, cancellationToken);

        public ValueTask FinalizeAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default) => _inner.FinalizeAsync(gracePeriod, cancellationToken);

        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }
}
