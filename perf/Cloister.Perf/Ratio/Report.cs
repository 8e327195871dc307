using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Cloister.Perf.Ratio;

/// <summary>The result of a run: printed as one table and written as JSON (an array of <see cref="Figure"/>s).</summary>
internal static class Report
{
    // A file for people and scripts, never embedded in HTML: write "<=" as is.
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Table(IReadOnlyList<Figure> figures)
    {
        string[] header = ["figure", "floor", "Cloister", "ratio", "goal", "met?"];
        var rows = figures.Select(f => new[]
        {
            f.Name,
            f.Floor is { } floor ? $"{Number(floor)} {f.Unit}" : "-",
            f.Value is { } value ? $"{Number(value)} {f.Unit}" : "n/a",
            f.Ratio is { } ratio ? ratio.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-",
            f.Goal,
            !f.HasGoal ? "-" : f.Met ? "yes" : "NO",
        }).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(i => rows.Select(r => r[i].Length).Append(header[i].Length).Max()).ToArray();

        var text = new StringBuilder();
        Line(header);
        Line(widths.Select(w => new string('-', w)).ToArray());
        foreach (var row in rows)
        {
            Line(row);
        }

        return text.ToString();

        void Line(string[] cells)
        {
            text.Append("| ");
            for (var i = 0; i < cells.Length; i++)
            {
                // Text left, numbers right.
                text.Append(i is 1 or 2 or 3 ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i])).Append(" | ");
            }

            text.Length--;
            text.AppendLine();
        }
    }

    /// <summary>Writes the figures to <paramref name="path"/> (through a temporary file, so a stopped run leaves no half file).</summary>
    public static async Task WriteJsonAsync(IReadOnlyList<Figure> figures, string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        await using (var stream = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(stream, figures, Json, cancellationToken);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>What the figures were measured on.</summary>
    public static string Machine()
    {
        var cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }

        return $"{cpu}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }

    private static string Number(double x) => x switch
    {
        >= 10_000 => x.ToString("#,0", CultureInfo.InvariantCulture),
        >= 100 => x.ToString("0.0", CultureInfo.InvariantCulture),
        _ => x.ToString("0.00", CultureInfo.InvariantCulture),
    };
}
