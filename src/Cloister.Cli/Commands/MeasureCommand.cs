using System.CommandLine;

namespace Cloister.Cli.Commands;

/// <summary>
/// <c>cloister measure &lt;package&gt;</c>: verifies a package and prints its SHA-256 measurement, and nothing else,
/// on standard output, so scripts can capture it (e.g. for <c>cloister run --expected-measurement</c>).
/// </summary>
internal sealed class MeasureCommand : Command
{
    private readonly Argument<string> _package = new("package")
    {
        Description = "The .cloister package to measure.",
    };

    /// <summary>Creates the command.</summary>
    public MeasureCommand()
        : base("measure", "Verify a package and print its SHA-256 measurement (64 lowercase hex digits).")
    {
        Arguments.Add(_package);
        this.SetCloisterAction(ExecuteAsync);
    }

    private async Task<int> ExecuteAsync(CommandContext context, ParseResult parseResult, CancellationToken cancellationToken)
    {
        var package = parseResult.GetRequiredValue(_package);
        var measurement = await EnclavePackage.MeasureAsync(package, cancellationToken: cancellationToken);
        await context.Out.WriteLineAsync(measurement);
        return ExitCodes.Success;
    }
}
