using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Cloister.Tests;

public sealed class SimBackendTests(TestEnclaveFixture enclave)
{
    [Fact]
    public async Task Destroyed_enclaves_load_contexts_are_collected_after_200_cycles()
    {
        const int cycles = 200;
        await using var manager = new EnclaveManager();
        var contexts = new List<WeakReference>(cycles);
        for (var i = 0; i < cycles; i++)
        {
            contexts.Add(await LoadCallDestroyAsync(manager, enclave.PackagePath));
        }

        for (var attempt = 0; attempt < 20 && contexts.Any(c => c.IsAlive); attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(10);
        }

        Assert.Equal(0, contexts.Count(c => c.IsAlive));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> LoadCallDestroyAsync(EnclaveManager manager, string packagePath)
    {
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "cycle", PackagePath = packagePath });
        await client.EnterAndRunAsync(new EnclaveInput { Text = "x" });
        var context = new WeakReference(((SimTransport)client.Transport!).Enclave.LoadContext);
        await manager.DestroyEnclaveAsync(client);
        return context;
    }

    [Fact]
    public async Task Sim_warns_once_that_it_gives_no_isolation()
    {
        var logs = new InMemoryLoggerProvider();
        await using var manager = new EnclaveManager(new EnclaveManagerOptions { LoggerFactory = new LoggerFactory([logs]) });
        for (var i = 0; i < 3; i++)
        {
            await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = $"e{i}", PackagePath = enclave.PackagePath });
        }

        var warning = Assert.Single(logs.Records, r => r.Message.Contains("NO isolation", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, warning.Level);
    }

    [Fact]
    public async Task Destroy_deletes_the_extracted_package()
    {
        await using var manager = new EnclaveManager();
        var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "cleanup", PackagePath = enclave.PackagePath });
        var folder = Path.GetDirectoryName(((SimTransport)client.Transport!).Enclave.LoadContext.Assemblies.First().Location)!;
        Assert.True(Directory.Exists(folder));
        await manager.DestroyEnclaveAsync(client);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public async Task Disposing_the_manager_finalizes_every_enclave()
    {
        using var folder = new TempFolder();
        var manager = new EnclaveManager();
        for (var i = 0; i < 3; i++)
        {
            var config = new EnclaveLoadConfig { Name = $"e{i}", PackagePath = enclave.PackagePath, Config = new EnclaveConfig() };
            config.Config.Environment["FINALIZE_FILE"] = folder.File($"e{i}.txt");
            await manager.LoadEnclaveAsync(config);
        }

        await manager.DisposeAsync();
        Assert.Equal(3, Directory.GetFiles(folder.Path).Length);
        Assert.Empty(manager.Enclaves);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "late", PackagePath = enclave.PackagePath }).AsTask());
    }
}
