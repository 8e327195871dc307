using System.Diagnostics;

namespace Cloister.Remote;

/// <summary>Counts proxy exits by reason (<c>cloister.proxy.exits</c>), wherever a proxy's exit is seen.</summary>
internal static class ProxyExitMetrics
{
    /// <summary>The proxy exited with code 0: an orderly end (its enclave was destroyed, or its host went away).</summary>
    public const string Normal = "normal";

    /// <summary>The proxy exited with another code: it failed (a package it could not load, a refused registration, a crash).</summary>
    public const string Error = "error";

    /// <summary>A signal ended the proxy (SIGKILL from the OOM killer or an operator, SIGSEGV, ...), not its host.</summary>
    public const string Signal = "signal";

    /// <summary>Its host (or provision server) killed it because it did not exit within the shutdown grace period.</summary>
    public const string Killed = "killed";

    public static string Reason(ProxyExitStatus status, bool killedByHost) =>
        killedByHost ? Killed : status.ExitCode == 0 ? Normal : status.Signal is not null ? Signal : Error;

    public static void Record(string enclaveName, ProxyExitStatus status, bool killedByHost)
    {
        if (CloisterTelemetry.ProxyExits.Enabled)
        {
            CloisterTelemetry.ProxyExits.Add(1, new TagList
            {
                { CloisterTags.EnclaveName, enclaveName },
                { CloisterTags.Backend, RemoteBackend.BackendName },
                { CloisterTags.ExitReason, Reason(status, killedByHost) },
            });
        }
    }
}
