using System.Diagnostics;
using Cloister.Remote;

namespace Cloister.Perf;

/// <summary>
/// Every process the runner starts (bare servers, the provision server, Translator drivers, Cloister proxies), killed
/// with the processes they started when the runner ends however it ends: disposal, an exception, Ctrl+C or SIGTERM
/// (both end in <see cref="AppDomain.ProcessExit"/>). The orderly shutdown of each part comes first; this is the net
/// under it. The children also watch this process and exit when it is gone (the Translator driver at the end of its
/// lifetime).
/// </summary>
internal sealed class ChildProcessGuard : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly List<LocalProxyProvision> _proxies = [];

    public ChildProcessGuard() => AppDomain.CurrentDomain.ProcessExit += OnProcessExit;

    public void Track(Process process)
    {
        lock (_processes)
        {
            _processes.Add(process);
        }
    }

    /// <summary>A local proxy provision for the remote backend, tracked (use as <see cref="RemoteProxyConfig.Provision"/>).</summary>
    public LocalProxyProvision Track(LocalProxyProvision provision)
    {
        lock (_processes)
        {
            _proxies.Add(provision);
        }

        return provision;
    }

    /// <summary>Kills whatever is still running.</summary>
    public void KillAll()
    {
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                    }
                }
                catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Exited or disposed in the meantime.
                }
            }

            // Only a proxy whose exit was not observed is still our child, so its pid cannot have been reused.
            foreach (var proxy in _proxies)
            {
                if (!proxy.Exited.IsCompleted && proxy.ProcessId is { } pid)
                {
                    try
                    {
                        using var process = Process.GetProcessById(pid);
                        process.Kill(entireProcessTree: true);
                    }
                    catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                    {
                        // Gone in the meantime.
                    }
                }
            }

            _processes.Clear();
            _proxies.Clear();
        }
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        KillAll();
    }

    private void OnProcessExit(object? sender, EventArgs e) => KillAll();
}
