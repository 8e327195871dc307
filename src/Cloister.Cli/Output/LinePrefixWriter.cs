using System.Text;

namespace Cloister.Cli.Output;

/// <summary>
/// Writes to another writer, starting every line with a prefix, so that a reader sees where text came from.
/// Not thread-safe: for one writer at a time, as in the demo, whose calls run one after the other.
/// </summary>
internal sealed class LinePrefixWriter(TextWriter inner, string prefix) : TextWriter
{
    private bool _atLineStart = true;

    /// <inheritdoc />
    public override Encoding Encoding => inner.Encoding;

    /// <inheritdoc />
    public override void Write(char value)
    {
        if (_atLineStart && value != '\r')
        {
            inner.Write(prefix);
        }

        inner.Write(value);
        _atLineStart = value == '\n';
    }

    /// <inheritdoc />
    public override void Flush() => inner.Flush();
}
