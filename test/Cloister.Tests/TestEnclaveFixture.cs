using Cloister.Tests;

[assembly: AssemblyFixture(typeof(TestEnclaveFixture))]

namespace Cloister.Tests;

/// <summary>Packs the test enclave once per test run; every test loads that package.</summary>
public sealed class TestEnclaveFixture : IAsyncLifetime
{
    public string BuildOutput { get; } = Path.Combine(AppContext.BaseDirectory, "enclaves", "TestEnclave");

    public TempFolder Folder { get; } = new();

    public string PackagePath => Path.Combine(Folder.Path, "test-enclave.cloister");

    public string Measurement { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var contents = await EnclavePackage.CreateAsync(BuildOutput, PackagePath);
        Measurement = contents.Measurement;
    }

    public ValueTask DisposeAsync()
    {
        Folder.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A temporary folder, deleted with its contents on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cloister-tests", Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
