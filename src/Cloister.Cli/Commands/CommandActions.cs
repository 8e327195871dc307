using System.CommandLine;
using Cloister.Cli.Logging;
using Microsoft.Extensions.Logging;

namespace Cloister.Cli.Commands;

/// <summary>
/// Runs every command the same way: logging set up from <c>--verbose</c>, and expected failures turned into one
/// <c>error: …</c> line on standard error and exit code 1, without a stack trace.
/// </summary>
internal static class CommandActions
{
    /// <summary>Sets <paramref name="action"/> as what <paramref name="command"/> does.</summary>
    /// <param name="command">The command.</param>
    /// <param name="action">The command's work; returns the exit code.</param>
    public static void SetCloisterAction(this Command command, Func<CommandContext, ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            // Warnings (such as sim's "no isolation") always show; --verbose adds everything else.
            var level = parseResult.GetValue(CommonOptions.Verbose) ? LogLevel.Debug : LogLevel.Warning;
            using var loggerFactory = CliLogging.CreateLoggerFactory(level);
            var configuration = parseResult.InvocationConfiguration;
            var context = new CommandContext(configuration.Output, configuration.Error, loggerFactory);
            try
            {
                return await action(context, parseResult, cancellationToken);
            }
            catch (EnclaveException ex)
            {
                await context.Error.WriteLineAsync($"error: {ex.Message}");
                if (ex.EnclaveStackTrace is { } stackTrace)
                {
                    await context.Error.WriteLineAsync($"enclave stack trace:{Environment.NewLine}{stackTrace}");
                }

                return ExitCodes.Failure;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The file system said no (a read-only folder, a full disk): the message says which file.
                await context.Error.WriteLineAsync($"error: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await context.Error.WriteLineAsync("error: cancelled.");
                return ExitCodes.Failure;
            }
        });
    }
}
