using System.Reflection.PortableExecutable;
using Cloister.Remote;

namespace Cloister.Tests;

/// <summary>
/// The proxy that ships with Cloister.Remote: the build puts a precompiled (ReadyToRun) copy in <c>cloister-proxy/</c>
/// of every app that references it (src/Cloister.Remote/ReadyToRunProxy.targets), and the remote backend starts that one.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ShippedProxyTests(TestEnclaveFixture enclave)
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "cloister-proxy");

    [Theory]
    [InlineData("Cloister.Remote.dll")]
    [InlineData("Cloister.dll")]
    [InlineData("Google.Protobuf.dll")]
    [InlineData("Grpc.Net.Client.dll")]
    [InlineData("Grpc.AspNetCore.Server.dll")]
    [InlineData("System.CommandLine.dll")]
    public void The_shipped_proxy_folder_holds_precompiled_assemblies(string assembly)
    {
        using var pe = new PEReader(File.OpenRead(Path.Combine(Folder, assembly)));

        // A ReadyToRun image carries native code behind the CLI header's managed-native header; plain IL has none.
        Assert.True(pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0, $"{assembly} in {Folder} is not ReadyToRun.");
    }

    [Fact]
    public async Task The_remote_backend_starts_the_precompiled_proxy_by_default()
    {
        Assert.Equal(Path.Combine(Folder, "Cloister.Remote.dll"), LocalProxyProvision.ShippedProxyPath());
        Assert.True(File.Exists(Path.Combine(Folder, "Cloister.Remote.deps.json")), "the proxy folder resolves its own dependencies");

        await using var backend = new RemoteBackend(new RemoteProxyConfig());
        var options = new EnclaveManagerOptions();
        options.Backends.Add(backend);
        await using var manager = new EnclaveManager(options);
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig
        {
            Name = "precompiled",
            PackagePath = enclave.PackagePath,
            Backend = RemoteBackend.BackendName,
            Config = new EnclaveConfig(),
        }).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        var pid = ((LocalProxyProvision)((ProxyClient)client.Transport!).Provision).ProcessId!.Value;
        var commandLine = (await File.ReadAllTextAsync($"/proc/{pid}/cmdline")).Split('\0');
        Assert.Contains(Path.Combine(Folder, "Cloister.Remote.dll"), commandLine);
        Assert.Equal("echo", System.Text.Encoding.UTF8.GetString((await client.InvokeAsync("echo", "echo"u8.ToArray())).Span));
    }
}
