using System.Globalization;
using System.Text.Json.Serialization;

namespace Cloister.Perf.Ratio;

/// <summary>
/// One line of the result: the floor (bare gRPC, same run), Cloister's value, their ratio (always Cloister ÷ floor) and
/// whether the goal was met. A figure that could not be measured has nulls and is not met. This is also the JSON shape
/// of perf/results/ratio.json, one object per figure.
/// </summary>
internal sealed record Figure(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("floor")] double? Floor,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("ratio")] double? Ratio,
    [property: JsonPropertyName("goal")] string Goal,
    [property: JsonPropertyName("met")] bool Met)
{
    /// <summary>Lower is better (a latency): met when Cloister ÷ floor ≤ <paramref name="maxRatio"/>.</summary>
    public static Figure AtMost(string name, string unit, double floor, double value, double maxRatio)
    {
        var ratio = Divide(value, floor);
        return new(name, unit, Known(floor), Known(value), ratio, $"ratio <= {maxRatio.ToString("0.00", CultureInfo.InvariantCulture)}", ratio <= maxRatio);
    }

    /// <summary>Higher is better (a rate): met when Cloister ÷ floor ≥ <paramref name="minRatio"/>.</summary>
    public static Figure AtLeast(string name, string unit, double floor, double value, double minRatio)
    {
        var ratio = Divide(value, floor);
        return new(name, unit, Known(floor), Known(value), ratio, $"ratio >= {minRatio.ToString("0.00", CultureInfo.InvariantCulture)}", ratio >= minRatio);
    }

    /// <summary>The goal of a figure reported for information: it has none, and counts as met once measured.</summary>
    public const string NoGoal = "informational";

    /// <summary>The figure's number (its name starts with it), for <c>--only</c>.</summary>
    [JsonIgnore]
    public int Number => int.Parse(Name.AsSpan(0, Name.TakeWhile(char.IsAsciiDigit).Count()), CultureInfo.InvariantCulture);

    /// <summary>False for a figure reported for information only.</summary>
    [JsonIgnore]
    public bool HasGoal => Goal != NoGoal;

    /// <summary>A ratio with no goal (<see cref="NoGoal"/>): nothing to miss, so met once both sides were measured.</summary>
    public static Figure Informational(string name, string unit, double floor, double value)
    {
        var ratio = Divide(value, floor);
        return new(name, unit, Known(floor), Known(value), ratio, NoGoal, ratio is not null);
    }

    /// <summary>An absolute figure with no floor: met when the value is under <paramref name="limit"/>.</summary>
    public static Figure Under(string name, string unit, double value, double limit) =>
        new(name, unit, null, Known(value), null, $"value < {limit.ToString(CultureInfo.InvariantCulture)} {unit}", Known(value) < limit);

    private static double? Known(double x) => double.IsFinite(x) ? Math.Round(x, 2) : null;

    private static double? Divide(double value, double floor) =>
        double.IsFinite(value) && double.IsFinite(floor) && floor > 0 ? Math.Round(value / floor, 3) : null;
}
