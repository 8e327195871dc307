using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Cloister.Cli.Tests;

/// <summary>What a run of the tool did.</summary>
internal sealed record CloisterResult(int ExitCode, string StandardOutput, string StandardError)
{
    public override string ToString() => $"exit code {ExitCode}{Environment.NewLine}stdout:{Environment.NewLine}{StandardOutput}{Environment.NewLine}stderr:{Environment.NewLine}{StandardError}";
}

/// <summary>Runs the built <c>cloister</c> tool as a child process, exactly as a user would: <c>dotnet Cloister.Cli.dll …</c>.</summary>
internal static class CloisterProcess
{
    /// <summary>Long enough for any command that does not build; a bug makes the test fail instead of hang.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static Task<CloisterResult> RunAsync(params string[] arguments) => RunAsync(DefaultTimeout, arguments);

    public static Task<CloisterResult> RunAsync(TimeSpan timeLimit, params string[] arguments) =>
        RunDotnetAsync(timeLimit, workingDirectory: null, [TestPaths.CloisterCli, .. arguments]);

    /// <summary>Runs <c>dotnet</c> itself (the SDK: build, pack, run) with <paramref name="arguments"/>.</summary>
    public static Task<CloisterResult> RunDotnetAsync(TimeSpan timeLimit, string? workingDirectory, params string[] arguments) =>
        RunDotnetAsync(timeLimit, workingDirectory, environment: null, arguments);

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/>; <paramref name="environment"/> sets (or, with null, removes) variables.</summary>
    public static async Task<CloisterResult> RunDotnetAsync(TimeSpan timeLimit, string? workingDirectory, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var startInfo = new ProcessStartInfo(FindDotnet())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                startInfo.Environment.Remove(name);
            }
            else
            {
                startInfo.Environment[name] = value;
            }
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("dotnet did not start.");
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(timeLimit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            return new CloisterResult(process.ExitCode, await output.WaitAsync(timeout.Token), await error.WaitAsync(timeout.Token));
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeLimit.TotalSeconds} s.");
        }
    }

    private static string FindDotnet()
    {
        var fileName = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        // The runtime running the tests lives in <dotnet root>/shared/Microsoft.NETCore.App/<version>/.
        var fromRuntime = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", fileName));
        return File.Exists(fromRuntime) ? fromRuntime : fileName;
    }
}
