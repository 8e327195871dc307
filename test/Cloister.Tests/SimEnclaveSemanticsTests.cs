namespace Cloister.Tests;

/// <summary>The shared semantics on the sim backend.</summary>
public sealed class SimEnclaveSemanticsTests(TestEnclaveFixture enclave) : EnclaveSemanticsTests(enclave)
{
    protected override EnclaveManagerOptions CreateOptions() => new();

    protected override EnclaveLoadConfig CreateLoadConfig(string name) =>
        new() { Name = name, PackagePath = Enclave.PackagePath, Backend = SimBackend.BackendName };
}
