using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Cloister.Cli.Publishing;

/// <summary>
/// Runs <c>dotnet publish -c Release</c> on an enclave project: packages are made from publish output, which (unlike
/// a class library's build output) carries the NuGet dependencies and the <c>.deps.json</c> the loader resolves them with.
/// </summary>
internal sealed partial class ProjectPublisher(ILogger<ProjectPublisher> logger)
{
    // After dotnet exits, build servers it started may still hold its output pipes open; do not wait on them for long.
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Publishes <paramref name="projectPath"/> into <paramref name="outputDirectory"/>. The output of <c>dotnet publish</c>
    /// is kept quiet unless it fails; then it is written to <paramref name="error"/> and the failure is thrown.
    /// </summary>
    /// <exception cref="EnclaveException"><c>dotnet</c> could not be started, or the publish failed.</exception>
    public async Task PublishAsync(string projectPath, string outputDirectory, TextWriter error, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(DotnetMuxer.Find())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] arguments = ["publish", projectPath, "--configuration", "Release", "--output", outputDirectory, "--nologo"];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        LogPublishing(logger, startInfo.FileName, string.Join(' ', startInfo.ArgumentList));
        using var process = Start(startInfo, projectPath);
        var output = new ProcessOutput();
        var drained = Task.WhenAll(output.CollectAsync(process.StandardOutput), output.CollectAsync(process.StandardError));
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        try
        {
            await drained.WaitAsync(OutputDrainTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Some of the output may be missing; the exit code below is what counts.
        }

        LogPublished(logger, projectPath, process.ExitCode);
        if (process.ExitCode != 0)
        {
            await error.WriteAsync(output.ToString());
            throw new EnclaveException(EnclaveStatusCode.FailedPrecondition,
                $"`dotnet publish` of '{projectPath}' failed with exit code {process.ExitCode} (its output is above). Fix the build, or publish it yourself and pack the publish folder.");
        }
    }

    private static Process Start(ProcessStartInfo startInfo, string projectPath)
    {
        try
        {
            return Process.Start(startInfo)
                ?? throw new EnclaveException(EnclaveStatusCode.Internal, $"'{startInfo.FileName}' did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new EnclaveException(EnclaveStatusCode.NotFound,
                $"Could not start '{startInfo.FileName}' to publish '{projectPath}': {ex.Message}. Install the .NET SDK, or publish the project yourself and pack the publish folder.", ex);
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Running {FileName} {Arguments}")]
    private static partial void LogPublishing(ILogger logger, string fileName, string arguments);

    [LoggerMessage(2, LogLevel.Debug, "dotnet publish of '{Project}' exited with code {ExitCode}")]
    private static partial void LogPublished(ILogger logger, string project, int exitCode);

    /// <summary>Standard output and standard error interleaved line by line, as a terminal would have shown them.</summary>
    private sealed class ProcessOutput
    {
        private readonly Lock _lock = new();
        private readonly System.Text.StringBuilder _text = new();

        public async Task CollectAsync(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (_lock)
                {
                    _text.AppendLine(line);
                }
            }
        }

        public override string ToString()
        {
            lock (_lock)
            {
                return _text.ToString();
            }
        }
    }
}
