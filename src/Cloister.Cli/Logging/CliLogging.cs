using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Cloister.Cli.Logging;

/// <summary>The tool's logging: one line per record, all on standard error so standard output stays the command's result.</summary>
internal static class CliLogging
{
    /// <summary>Creates a logger factory that shows records of <paramref name="minimumLevel"/> and above.</summary>
    public static ILoggerFactory CreateLoggerFactory(LogLevel minimumLevel) =>
        LoggerFactory.Create(builder => builder
            .SetMinimumLevel(minimumLevel)
            .AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.IncludeScopes = true;
            })
            .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace));
}
