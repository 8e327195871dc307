using System.Globalization;
using System.Text;

namespace Cloister.Remote;

/// <summary>One sample of a Prometheus text exposition: <c>name{label="value",…} value</c>.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : string.Empty;
}

/// <summary>
/// Reads the Prometheus text format (version 0.0.4) that <see cref="MetricsEndpoint"/> serves, for <c>cloister status</c>.
/// Only reads: the format is written by OpenTelemetry's exporter.
/// </summary>
internal static class PrometheusText
{
    private static readonly Dictionary<string, string> NoLabels = new(StringComparer.Ordinal);

    /// <exception cref="FormatException">A line is not a sample, a comment or empty.</exception>
    public static List<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseSample(line, lineNumber));
        }

        return samples;
    }

    private static PrometheusSample ParseSample(string line, int lineNumber)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        var labels = NoLabels;
        if (i < line.Length && line[i] == '{')
        {
            labels = new Dictionary<string, string>(StringComparer.Ordinal);
            i++;
            while (i < line.Length && line[i] != '}')
            {
                var equals = line.IndexOf('=', i);
                if (equals < 0 || equals + 1 >= line.Length || line[equals + 1] != '"')
                {
                    throw Malformed(lineNumber, line);
                }

                var labelName = line[i..equals].Trim();
                i = equals + 2;
                var value = new StringBuilder();
                while (i < line.Length && line[i] != '"')
                {
                    if (line[i] == '\\' && i + 1 < line.Length)
                    {
                        i++;
                        value.Append(line[i] == 'n' ? '\n' : line[i]);
                    }
                    else
                    {
                        value.Append(line[i]);
                    }

                    i++;
                }

                labels[labelName] = value.ToString();
                i++;
                if (i < line.Length && line[i] == ',')
                {
                    i++;
                }
            }

            i++;
        }

        var rest = line[Math.Min(i, line.Length)..].Trim();
        var end = rest.IndexOf(' ', StringComparison.Ordinal);
        var valueText = end < 0 ? rest : rest[..end];
        return name.Length > 0 && TryParseValue(valueText, out var number)
            ? new PrometheusSample(name, labels, number)
            : throw Malformed(lineNumber, line);
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }

    private static FormatException Malformed(int lineNumber, string line) =>
        new($"Line {lineNumber} of the metrics is not in the Prometheus text format: {line}");

    /// <summary>
    /// The <paramref name="quantile"/> of a histogram from its cumulative <c>_bucket</c> samples (summed by <c>le</c>), as
    /// PromQL's <c>histogram_quantile</c> estimates it: linear within the bucket. <see langword="null"/> when it is empty.
    /// </summary>
    public static double? Quantile(double quantile, IEnumerable<PrometheusSample> buckets)
    {
        var byBound = buckets
            .GroupBy(b => ParseBound(b.Label("le")))
            .Select(g => (Bound: g.Key, Count: g.Sum(b => b.Value)))
            .OrderBy(b => b.Bound)
            .ToList();
        if (byBound.Count == 0 || byBound[^1].Count <= 0)
        {
            return null;
        }

        var rank = quantile * byBound[^1].Count;
        var (lowerBound, lowerCount) = (0.0, 0.0);
        foreach (var (bound, count) in byBound)
        {
            if (count >= rank)
            {
                if (double.IsPositiveInfinity(bound))
                {
                    return lowerBound;
                }

                return count == lowerCount ? bound : lowerBound + ((bound - lowerBound) * (rank - lowerCount) / (count - lowerCount));
            }

            (lowerBound, lowerCount) = (bound, count);
        }

        return lowerBound;
    }

    private static double ParseBound(string le) => TryParseValue(le, out var bound) ? bound : double.PositiveInfinity;
}
