using Cloister.Remote;

namespace Cloister.Tests;

/// <summary>The shared semantics on the remote backend: every enclave in its own proxy process, over gRPC.</summary>
public sealed class RemoteEnclaveSemanticsTests(TestEnclaveFixture enclave) : EnclaveSemanticsTests(enclave)
{
    private readonly List<RemoteBackend> _backends = [];

    protected override EnclaveManagerOptions CreateOptions()
    {
        var backend = new RemoteBackend(new RemoteProxyConfig { ConnectTimeout = TimeSpan.FromSeconds(20) });
        _backends.Add(backend);
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        return options;
    }

    protected override EnclaveLoadConfig CreateLoadConfig(string name) =>
        new() { Name = name, PackagePath = Enclave.PackagePath, Backend = RemoteBackend.BackendName };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }
}
