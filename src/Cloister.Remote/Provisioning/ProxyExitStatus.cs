namespace Cloister.Remote;

/// <summary>How a proxy process ended.</summary>
/// <param name="ExitCode">The process exit code; on Unix a process killed by signal N reports 128 + N.</param>
public sealed record ProxyExitStatus(int ExitCode)
{
    /// <summary>The signal that killed the process, on Unix, or <see langword="null"/>.</summary>
    public int? Signal => !OperatingSystem.IsWindows() && ExitCode > 128 && ExitCode < 160 ? ExitCode - 128 : null;

    /// <inheritdoc />
    public override string ToString() => Signal switch
    {
        null => $"exit code {ExitCode}",
        9 => $"exit code {ExitCode} (killed by SIGKILL)",
        15 => $"exit code {ExitCode} (terminated by SIGTERM)",
        6 => $"exit code {ExitCode} (aborted, SIGABRT)",
        11 => $"exit code {ExitCode} (crashed, SIGSEGV)",
        var signal => $"exit code {ExitCode} (signal {signal})",
    };
}
