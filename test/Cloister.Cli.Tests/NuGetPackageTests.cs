namespace Cloister.Cli.Tests;

/// <summary>
/// Cloister.Remote as an app gets it from NuGet, not from this repository: packed, restored from a feed into a new
/// project, built, and run. The package carries the precompiled proxy as content (src/Cloister.Remote/ReadyToRunProxy.targets),
/// and the app must start it with no path configured: the IL Cloister.Remote.dll that lands next to the app has no
/// runtimeconfig.json, so a load can only succeed through the packaged <c>cloister-proxy/</c>.
/// </summary>
public sealed class NuGetPackageTests : IDisposable
{
    private static readonly TimeSpan DotnetTimeLimit = TimeSpan.FromMinutes(3);
    private static readonly string[] PackedProjects = ["src/Cloister/Cloister.csproj", "src/Cloister.OpenTelemetry/Cloister.OpenTelemetry.csproj", "src/Cloister.Remote/Cloister.Remote.csproj"];

    private readonly TemporaryFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task An_app_built_from_the_packages_starts_the_packaged_proxy()
    {
        // A version of its own, so that no Cloister package a cache already holds can stand in for this one.
        var version = $"0.0.0-test.{Guid.NewGuid():N}";
        var feed = _folder.File("feed");
        foreach (var project in PackedProjects)
        {
            var pack = await CloisterProcess.RunDotnetAsync(
                DotnetTimeLimit, workingDirectory: null,
                "pack", Path.Combine(TestPaths.RepositoryRoot, project), "-c", TestPaths.Configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}", "--disable-build-servers");
            Assert.True(pack.ExitCode == 0, pack.ToString());
        }

        Assert.True(File.Exists(Path.Combine(feed, $"Cloister.Remote.{version}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));
        var app = WriteApp(feed, version, await GlobalPackagesFolderAsync());

        var build = await CloisterProcess.RunDotnetAsync(DotnetTimeLimit, app, "build", "-c", "Release", "--disable-build-servers");
        Assert.True(build.ExitCode == 0, build.ToString());

        var output = Path.Combine(app, "bin", "Release", "net10.0");
        Assert.True(File.Exists(Path.Combine(output, "cloister-proxy", "Cloister.Remote.dll")), $"the package's proxy is not in {output}");
        Assert.True(File.Exists(Path.Combine(output, "cloister-proxy", "Cloister.Remote.runtimeconfig.json")), "the packaged proxy has no runtimeconfig.json");
        Assert.False(File.Exists(Path.Combine(output, "Cloister.Remote.runtimeconfig.json")), "the app's own Cloister.Remote.dll must not be runnable, or this test proves nothing");

        var hello = _folder.File("hello.cloister");
        var packEnclave = await CloisterProcess.RunAsync("pack", TestPaths.HelloEnclaveOutput, "-o", hello);
        Assert.True(packEnclave.ExitCode == 0, packEnclave.ToString());

        // Whatever the machine says, the app finds its proxy on its own.
        var run = await CloisterProcess.RunDotnetAsync(CloisterProcess.DefaultTimeout, app, new Dictionary<string, string?> { ["CLOISTER_REMOTE_PROXY"] = null }, Path.Combine(output, "App.dll"), hello);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Hello, package! (call #1)", run.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>The machine's NuGet cache, where the repository's own restore put every package the app needs.</summary>
    private static async Task<string> GlobalPackagesFolderAsync()
    {
        var locals = await CloisterProcess.RunDotnetAsync(DotnetTimeLimit, workingDirectory: null, "nuget", "locals", "global-packages", "--list");
        Assert.True(locals.ExitCode == 0, locals.ToString());
        const string Prefix = "global-packages: ";
        var line = locals.StandardOutput.Split('\n').Select(l => l.Trim()).SingleOrDefault(l => l.StartsWith(Prefix, StringComparison.Ordinal));
        Assert.True(line is not null, locals.ToString());
        return line[Prefix.Length..];
    }

    /// <summary>
    /// A console app that loads an enclave on the remote backend with every default. It restores from the feed and from
    /// the machine's NuGet cache only (both as local folders, into a packages folder of its own), so nothing is fetched
    /// from the network and no test package reaches the machine's cache.
    /// </summary>
    private string WriteApp(string feed, string version, string cache)
    {
        var app = _folder.File("app");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="cloister" value="{feed}" />
                <add key="cache" value="{cache}" />
              </packageSources>
              <packageSourceMapping>
                <clear />
              </packageSourceMapping>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <RestorePackagesPath>{_folder.File("packages")}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Cloister.Remote" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Cloister;
            using Cloister.Remote;

            await using var backend = new RemoteBackend(new RemoteProxyConfig());
            var options = new EnclaveManagerOptions();
            options.Backends.Add(backend);
            await using var manager = new EnclaveManager(options);
            var client = await manager.LoadEnclaveAsync(new EnclaveLoadConfig { Name = "hello", PackagePath = args[0], Backend = RemoteBackend.BackendName });
            var output = await client.EnterAndRunAsync(new EnclaveInput { Text = "package" });
            Console.WriteLine(output.Text);
            await manager.DestroyEnclaveAsync(client);
            """);
        return app;
    }
}
