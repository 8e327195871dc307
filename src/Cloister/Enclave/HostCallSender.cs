using Cloister.HostCalls.Protocol;
using Google.Protobuf;

namespace Cloister;

/// <summary>Carries one host call out of the enclave; each backend provides one.</summary>
internal delegate ValueTask<ReadOnlyMemory<byte>> HostCallTransport(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

/// <summary>The enclave-side <see cref="IHostCalls"/>: built-ins are protobuf messages over the backend's transport.</summary>
internal sealed class HostCallSender(HostCallTransport transport) : IHostCalls
{
    public ValueTask<ReadOnlyMemory<byte>> InvokeAsync(string selector, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(selector);
        if (Selectors.IsReserved(selector))
        {
            throw new ArgumentException($"Selector '{selector}' is reserved for Cloister's built-in host calls; use the typed IHostCalls methods instead.", nameof(selector));
        }

        return transport(selector, payload, cancellationToken);
    }

    public async ValueTask WriteConsoleAsync(string text, bool error = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var message = new ConsoleWrite { Text = text, Error = error };
        await transport(Selectors.ConsoleWrite, message.ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var reply = await transport(Selectors.FileRead, new FileReadRequest { Path = path }.ToByteArray(), cancellationToken).ConfigureAwait(false);
        return FileReadResponse.Parser.ParseFrom(reply.Span).Contents.ToByteArray();
    }

    public async ValueTask WriteFileAsync(string path, ReadOnlyMemory<byte> contents, bool append = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var request = new FileWriteRequest { Path = path, Contents = ByteString.CopyFrom(contents.Span), Append = append };
        await transport(Selectors.FileWrite, request.ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<DateTimeOffset> GetTimeAsync(CancellationToken cancellationToken = default)
    {
        var reply = await transport(Selectors.ClockNow, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        var micros = ClockResponse.Parser.ParseFrom(reply.Span).UnixTimeMicros;
        return DateTimeOffset.UnixEpoch.AddTicks(micros * 10);
    }

    internal ValueTask<ReadOnlyMemory<byte>> SendLogAsync(LogRecord record) =>
        transport(Selectors.Log, record.ToByteArray(), CancellationToken.None);
}
