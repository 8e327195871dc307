using System.Diagnostics;
using System.Globalization;

namespace Cloister.Perf;

/// <summary>
/// A server the runner starts as a child process (a <c>serve-…</c> command of this program, or the Translator driver) and
/// waits for: it is ready when it prints a line that starts with a given prefix, and the rest of that line says where
/// it listens. Its standard error is passed on, prefixed with its name. Stopped in order on disposal; the
/// <see cref="ChildProcessGuard"/> kills it if the runner ends first.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly bool _stopsWhenInputCloses;

    private ServerProcess(Process process, bool stopsWhenInputCloses, string ready)
    {
        _process = process;
        _stopsWhenInputCloses = stopsWhenInputCloses;
        Ready = ready;
    }

    public int ProcessId => _process.Id;

    /// <summary>What followed the prefix on its ready line: its address or port.</summary>
    public string Ready { get; }

    /// <summary>
    /// This program started again as <paramref name="command"/> (a <c>serve-…</c> command) with
    /// <paramref name="arguments"/>, told to watch this process; it stops when its standard input closes.
    /// </summary>
    public static Task<ServerProcess> StartSelfAsync(string command, IEnumerable<string> arguments, string readyPrefix, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        var current = Environment.ProcessPath ?? throw new InvalidOperationException($"Cannot find this program's path to start {command}.");
        var start = new ProcessStartInfo(current);
        if (IsDotnetHost(current))
        {
            start.ArgumentList.Add(typeof(ServerProcess).Assembly.Location);
        }

        start.ArgumentList.Add(command);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--parent-pid");
        start.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        return StartAsync(command, start, readyPrefix, stopsWhenInputCloses: true, children, cancellationToken);
    }

    /// <summary>
    /// Another .NET program (<paramref name="dll"/>) with <paramref name="arguments"/>: through the dotnet host when this
    /// program runs under it, else through the program's own apphost. It stops on SIGTERM.
    /// </summary>
    public static Task<ServerProcess> StartProgramAsync(string dll, IEnumerable<string> arguments, string readyPrefix, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        var dotnet = Environment.ProcessPath is { } current && IsDotnetHost(current) ? current : null;
        var apphost = Path.ChangeExtension(dll, null);
        ProcessStartInfo start;
        if (dotnet is null && File.Exists(apphost))
        {
            start = new ProcessStartInfo(apphost);
        }
        else
        {
            start = new ProcessStartInfo(dotnet ?? "dotnet");
            start.ArgumentList.Add(dll);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return StartAsync(Path.GetFileNameWithoutExtension(dll), start, readyPrefix, stopsWhenInputCloses: false, children, cancellationToken);
    }

    private static async Task<ServerProcess> StartAsync(string name, ProcessStartInfo start, string readyPrefix, bool stopsWhenInputCloses, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;

        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith(readyPrefix, StringComparison.Ordinal))
            {
                ready.TrySetResult(line[readyPrefix.Length..].Trim());
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Console.Error.WriteLine($"[{name}] {line}");
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"{name} exited with code {process.ExitCode} before it was ready; its errors are above."));
        process.Start();
        children.Track(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            return new ServerProcess(process, stopsWhenInputCloses, await ready.Task.WaitAsync(StartTimeout, cancellationToken));
        }
        catch (TimeoutException ex)
        {
            await new ServerProcess(process, stopsWhenInputCloses, "").DisposeAsync();
            throw new InvalidOperationException($"{name} (pid {process.Id}) did not say '{readyPrefix.Trim()}' within {StartTimeout.TotalSeconds:0} s; its errors, if any, are above.", ex);
        }
        catch
        {
            await new ServerProcess(process, stopsWhenInputCloses, "").DisposeAsync();
            throw;
        }
    }

    /// <summary>Closes its standard input or sends it SIGTERM, whichever stops it; kills it if it has not exited 10 s later.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                if (_stopsWhenInputCloses)
                {
                    _process.StandardInput.Close();
                }
                else
                {
                    using var terminate = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
                    await terminate.WaitForExitAsync();
                }

                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (IOException)
        {
            // Its stdin is gone: it exited in the meantime.
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static bool IsDotnetHost(string? path) =>
        path is not null && Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
}
