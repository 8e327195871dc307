namespace Cloister.Cli;

/// <summary>The process exit codes of <c>cloister</c>.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>The command failed; the reason is on standard error as <c>error: …</c>.</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong (System.CommandLine's own code for parse errors).</summary>
    public const int UsageError = 2;
}
