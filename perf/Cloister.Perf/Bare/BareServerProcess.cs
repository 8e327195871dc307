using System.Diagnostics;
using System.Globalization;

namespace Cloister.Perf.Bare;

/// <summary>The floor's server process: this program started again as <c>serve-bare</c>, owned by the runner.</summary>
internal sealed class BareServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private BareServerProcess(Process process, BareAddress address)
    {
        _process = process;
        Address = address;
    }

    public int ProcessId => _process.Id;

    /// <summary>Where it listens, as bound.</summary>
    public BareAddress Address { get; }

    public static async Task<BareServerProcess> StartAsync(BareAddress listen, BareAddress? callback, ChildProcessGuard children, CancellationToken cancellationToken)
    {
        var start = SelfStartInfo();
        start.ArgumentList.Add("serve-bare");
        start.ArgumentList.Add("--address");
        start.ArgumentList.Add(listen.ToString());
        if (callback is not null)
        {
            start.ArgumentList.Add("--callback-address");
            start.ArgumentList.Add(callback.ToString());
        }

        start.ArgumentList.Add("--parent-pid");
        start.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;

        var listening = new TaskCompletionSource<BareAddress>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith(ServeBareCommand.ListeningPrefix, StringComparison.Ordinal))
            {
                listening.TrySetResult(BareAddress.Parse(line[ServeBareCommand.ListeningPrefix.Length..]));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                Console.Error.WriteLine($"[serve-bare] {line}");
            }
        };
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"serve-bare exited with code {process.ExitCode} before it listened; its errors are above."));
        process.Start();
        children.Track(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            return new BareServerProcess(process, await listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken));
        }
        catch (TimeoutException ex)
        {
            await new BareServerProcess(process, listen).DisposeAsync();
            throw new InvalidOperationException($"serve-bare (pid {process.Id}) did not report an address within 30 s; its errors, if any, are above.", ex);
        }
        catch
        {
            await new BareServerProcess(process, listen).DisposeAsync();
            throw;
        }
    }

    /// <summary>Closes its standard input, which tells it to stop; kills it if it does not within 5 s.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
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

    /// <summary>How to start this same program: its apphost, or <c>dotnet Cloister.Perf.dll</c>.</summary>
    private static ProcessStartInfo SelfStartInfo()
    {
        var current = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find this program's path to start serve-bare.");
        var start = new ProcessStartInfo(current);
        if (Path.GetFileNameWithoutExtension(current).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(BareServerProcess).Assembly.Location);
        }

        return start;
    }
}
