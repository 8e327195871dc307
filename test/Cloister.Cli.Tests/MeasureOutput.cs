using System.Text.RegularExpressions;

namespace Cloister.Cli.Tests;

internal static partial class MeasureOutput
{
    /// <summary>The measurement `cloister measure` printed, checking that its standard output is that and nothing else.</summary>
    public static string Parse(CloisterResult measure)
    {
        Assert.True(measure.ExitCode == 0, measure.ToString());
        Assert.Matches(OneMeasurementLine(), measure.StandardOutput);
        return measure.StandardOutput.TrimEnd();
    }

    [GeneratedRegex(@"\A[0-9a-f]{64}\r?\n\z")]
    private static partial Regex OneMeasurementLine();
}
