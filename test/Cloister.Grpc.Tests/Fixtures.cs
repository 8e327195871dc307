using System.Diagnostics;
using Cloister.Grpc.Tests;

[assembly: AssemblyFixture(typeof(GrpcPackages))]

namespace Cloister.Grpc.Tests;

/// <summary>Packs the Translator and the slow test enclave once per run.</summary>
public sealed class GrpcPackages : IAsyncLifetime
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "enclaves");

    private readonly string _folder = Directory.CreateTempSubdirectory("cloister-grpc-tests-").FullName;

    public string Translator => Path.Combine(_folder, "translator.cloister");

    public string Slow => Path.Combine(_folder, "slow.cloister");

    public async ValueTask InitializeAsync()
    {
        await EnclavePackage.CreateAsync(Path.Combine(Root, "Driver", "enclaves", "Translator"), Translator);
        await EnclavePackage.CreateAsync(Path.Combine(Root, "SlowEnclave"), Slow);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary>A development CA with server and client certificates (<c>cloister certs dev</c>) in a temp folder.</summary>
public sealed class DevCertificates : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("cloister-grpc-certs-").FullName;

    public DevCertificates() => Cloister.Remote.DevelopmentCertificates.Create(_folder);

    public string Ca => File(Cloister.Remote.DevelopmentCertificates.Files.Ca);

    /// <summary>The driver's certificate flags: the CA, the server certificate and key.</summary>
    public string[] ServerFlags =>
    [
        "--ssl-ca-cert", Ca,
        "--ssl-server-cert", File(Cloister.Remote.DevelopmentCertificates.Files.ServerCertificate),
        "--ssl-server-key", File(Cloister.Remote.DevelopmentCertificates.Files.ServerKey),
    ];

    /// <summary>A client's certificate flags for mutual TLS.</summary>
    public string[] ClientFlags =>
    [
        "--ssl-client-cert", File(Cloister.Remote.DevelopmentCertificates.Files.ClientCertificate),
        "--ssl-client-key", File(Cloister.Remote.DevelopmentCertificates.Files.ClientKey),
    ];

    private string File(string name) => Path.Combine(_folder, name);

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

/// <summary>A finished child process: exit code and output.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>Runs the example executables as real child processes.</summary>
public static class Executables
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static string Driver => Path.Combine(GrpcPackages.Root, "Driver", "Translator.Driver.dll");

    public static string Client => Path.Combine(GrpcPackages.Root, "Client", "Translator.Client.dll");

    public static Process Start(string dll, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    public static async Task<ProcessResult> RunAsync(string dll, params string[] args)
    {
        using var process = Start(dll, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Sends SIGTERM, as a service manager would.</summary>
    public static void Terminate(Process process)
    {
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}

/// <summary>A running Translator driver: started, its port read from its one line of output.</summary>
public sealed class RunningDriver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private RunningDriver(Process process, int port, Task<string> stderr)
    {
        _process = process;
        Port = port;
        _stderr = stderr;
    }

    public int Port { get; }

    public static async Task<RunningDriver> StartAsync(string package, string backend, params string[] extra)
    {
        var process = Executables.Start(Executables.Driver, ["--enclave-path", package, "--backend", backend, .. extra]);
        var stderr = process.StandardError.ReadToEndAsync();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Executables.Timeout);
        if (line is null || !line.StartsWith("Server started on port ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"The driver did not start: first line '{line}', stderr: {await stderr}");
        }

        return new RunningDriver(process, int.Parse(line["Server started on port ".Length..], System.Globalization.CultureInfo.InvariantCulture), stderr);
    }

    /// <summary>SIGTERM, then the exit code, the rest of standard output and standard error.</summary>
    public Task<ProcessResult> StopAsync()
    {
        Executables.Terminate(_process);
        return WaitForExitAsync();
    }

    /// <summary>Waits for the driver to exit by itself.</summary>
    public async Task<ProcessResult> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().WaitAsync(Executables.Timeout);
        return new ProcessResult(_process.ExitCode, await _process.StandardOutput.ReadToEndAsync(), await _stderr);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
