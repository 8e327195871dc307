namespace Cloister;

/// <summary>The selectors Cloister itself uses for entry calls and host calls.</summary>
internal static class Selectors
{
    public const string ReservedPrefix = "cloister.";

    // Entry calls (host -> enclave).
    public const string Initialize = "cloister.initialize";
    public const string Run = "cloister.run";
    public const string Finalize = "cloister.finalize";

    // Built-in host calls (enclave -> host).
    public const string ConsoleWrite = "cloister.console.write";
    public const string Log = "cloister.log";
    public const string FileRead = "cloister.file.read";
    public const string FileWrite = "cloister.file.write";
    public const string ClockNow = "cloister.clock.now";

    public static bool IsReserved(string selector) => selector.StartsWith(ReservedPrefix, StringComparison.Ordinal);
}
